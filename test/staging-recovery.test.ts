// A submission's folder is renamed out of staging without an fsync of jobs/ (the row's fsynced
// commit follows it). A power loss may undo that rename: the next start must put the folder of a
// stored job back in place, and still drop what an unfinished submission left in staging.
import { afterEach, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { scriptFile, startTestDaemon, type TestDaemon, tempDir } from "./helpers/daemon.ts";

const daemons: TestDaemon[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.close();
});

test("a stored job whose folder is back in staging is moved into place at start and runs", async () => {
  const dataDir = tempDir();
  // A job that cannot run (only a queue with no slot) stays PENDING across the restart.
  const first = await startTestDaemon({ SLOTS: "cpu:1" }, dataDir);
  const res = await first.submit({
    script: scriptFile("export async function main() { return 'ran'; }"),
    config: JSON.stringify({ queue: "later" }),
  });
  expect(res.status).toBe(200);
  const { uuid } = (await res.json()) as { uuid: string };
  expect((await first.waitFor(uuid, ["PENDING"])).status).toBe("PENDING");
  await first.close({ keepData: true });

  // What a power loss after the row's commit but before jobs/ reached the disk leaves.
  const jobs = join(dataDir, "jobs");
  renameSync(join(jobs, uuid), join(jobs, ".staging", uuid));
  // And an unfinished submission: staged files with no row.
  const stray = join(jobs, ".staging", "00000000-0000-4000-8000-000000000000");
  mkdirSync(join(stray, "script"), { recursive: true });
  writeFileSync(join(stray, "script", "x.ts"), "export {};");

  const second = await startTestDaemon({ SLOTS: "cpu:1,later:1" }, dataDir);
  daemons.push(second);
  expect(existsSync(join(jobs, uuid, "script"))).toBe(true);
  expect(readdirSync(join(jobs, ".staging"))).toEqual([]);
  expect(existsSync(join(jobs, "00000000-0000-4000-8000-000000000000"))).toBe(false);
  const done = await second.waitFor(uuid);
  expect(done.status).toBe("SUCCESS");
  expect(done.result).toBe("ran");
});
