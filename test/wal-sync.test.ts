// The store's flush before a client is told (store/wal-sync.ts), on a real SQLite file: callers
// that arrive while a flush runs share the next one, and a database it cannot flush is refused.
// (That a flushed commit survives a power loss: test/durable-outputs.test.ts.)
import { Database } from "bun:sqlite";
import { afterEach, expect, test } from "bun:test";
import { readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../src/store/db.ts";
import { WalSync } from "../src/store/wal-sync.ts";
import { tempDir } from "./helpers/daemon.ts";

const open: { close(): void }[] = [];
afterEach(() => {
  for (const item of open.splice(0)) item.close();
});

/** The fds of this process open on `path`. */
const fdsOn = (path: string) =>
  readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  });

test("callers that arrive while a flush runs share the next one, and every one resolves", async () => {
  const path = join(tempDir("pxs-wal-"), "jobs.sqlite");
  const db = openDatabase(path);
  open.push({ close: () => db.$client.close(true) });
  const wal = WalSync.open(path);
  const first = wal.sync();
  const later = Array.from({ length: 50 }, () => wal.sync());
  // The first started a flush; its commits may have come after it began: they wait for one more.
  expect(later.every((p) => p === later[0])).toBe(true);
  expect(later[0]).not.toBe(first);
  await Promise.all([first, ...later]);
  // Nothing running: the next caller starts a flush of its own.
  const next = wal.sync();
  expect(next).not.toBe(later[0]);
  await next;
  wal.close();
});

test("close waits for a running flush before it closes the WAL file; later syncs resolve at once", async () => {
  const path = join(tempDir("pxs-wal-"), "jobs.sqlite");
  const db = openDatabase(path);
  open.push({ close: () => db.$client.close(true) });
  const before = fdsOn(`${path}-wal`).length;
  const wal = WalSync.open(path);
  expect(fdsOn(`${path}-wal`).length).toBe(before + 1);
  const running = wal.sync();
  wal.close();
  await running;
  await Bun.sleep(10);
  expect(fdsOn(`${path}-wal`).length).toBe(before);
  await wal.sync();
});

test("a database in memory has nothing to flush; one without a WAL file is refused by name", async () => {
  await WalSync.open(":memory:").sync();
  const path = join(tempDir("pxs-wal-"), "rollback.sqlite");
  const db = new Database(path);
  db.exec("CREATE TABLE t (x)");
  open.push(db);
  expect(() => WalSync.open(path)).toThrow(`${path} has no WAL file: is it open in WAL mode?`);
});
