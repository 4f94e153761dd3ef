// The memory watch's scan of /proc (runner/group-rss.ts), on real processes: it counts a job's
// whole group, grandchildren included, and reads again only what may belong to a watched job.
import { afterEach, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GroupRss, startedBetween } from "../src/runner/group-rss.ts";
import { killGroup } from "../src/runner/kill.ts";
import { tempDir } from "./helpers/daemon.ts";
import { eventually, liveGroupMembers } from "./helpers/procs.ts";

const HOG_MB = 48;
/** Python that holds HOG_MB of written (resident) memory, says "ready", then sleeps. */
const HOG = `import os, sys, time
SETPGID = os.environ.get("SETPGID") == "1"
if SETPGID: os.setpgid(0, 0)
block = b"x" * (${HOG_MB} << 20)
print("ready", os.getpgrp(), flush=True)
time.sleep(60)`;

const started: number[] = [];
const folders: string[] = [];
afterEach(() => {
  for (const pgid of started.splice(0)) killGroup(pgid);
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A session leader (like a job) running `script`; resolves with its group once it printed "ready". */
async function leader(script: string, env: Record<string, string> = {}): Promise<number> {
  const proc = Bun.spawn(["sh", "-c", script], {
    detached: true,
    stdout: "pipe",
    env: { ...process.env, ...env },
  });
  started.push(proc.pid);
  const reader = proc.stdout.getReader();
  let text = "";
  while (!/ready \d+\n/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the process ended before it was ready: ${text}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return Number(/ready (\d+)/.exec(text)?.[1]);
}

const hogInChild = () => `python3 -c '${HOG}' & wait`;
const mb = (kb: number | undefined) => (kb ?? 0) / 1024;

describe("group memory scan", () => {
  test("counts every process of a watched group, grandchildren included", async () => {
    const pgid = await leader(hogInChild());
    const scan = new GroupRss();
    const totals = scan.measure(new Set([pgid]));
    expect(liveGroupMembers(pgid).length).toBe(2); // the shell and its python child
    expect(mb(totals.get(pgid))).toBeGreaterThan(HOG_MB);
    expect(mb(totals.get(pgid))).toBeLessThan(HOG_MB + 40);
  });

  test("after a first full scan, processes of other sessions are not read again", async () => {
    const others = await Promise.all(Array.from({ length: 20 }, () => leader("echo ready 0; exec sleep 60")));
    const pgid = await leader(hogInChild());
    const scan = new GroupRss();
    scan.measure(new Set([pgid]));
    expect(scan.last.read).toBe(scan.last.listed); // the first scan knows nothing yet
    const totals = scan.measure(new Set([pgid]));
    expect(mb(totals.get(pgid))).toBeGreaterThan(HOG_MB);
    // Read again: the watched group's two processes, and whatever the machine started in between.
    expect(scan.last.listed).toBeGreaterThan(others.length + 2);
    expect(scan.last.read).toBeLessThan(2 + 10);
  });

  test("a process started in a watched group after the first scan is counted by a later one", async () => {
    const dir = tempDir("group-rss-");
    folders.push(dir);
    const flag = join(dir, "go");
    const pgid = await leader(
      `echo ready $$; until [ -e ${flag} ]; do sleep 0.02; done; python3 -c "$HOG" & wait`,
      { HOG },
    );
    const scan = new GroupRss();
    expect(mb(scan.measure(new Set([pgid])).get(pgid))).toBeLessThan(HOG_MB / 2);
    writeFileSync(flag, "");
    const seen = await eventually(() => mb(scan.measure(new Set([pgid])).get(pgid)) > HOG_MB, 10_000);
    expect(seen).toBe(true);
    expect(scan.last.read).toBeLessThan(scan.last.listed);
  });

  test("a group first seen unwatched (a warm child) is read once it is watched", async () => {
    const pgid = await leader(hogInChild());
    const scan = new GroupRss();
    expect(scan.measure(new Set()).size).toBe(0);
    const totals = scan.measure(new Set([pgid]));
    expect(scan.last.read).toBeLessThan(scan.last.listed);
    expect(mb(totals.get(pgid))).toBeGreaterThan(HOG_MB);
  });

  test("a watched group that is not a session of its own turns skipping off", async () => {
    // The python child moves to a group of its own inside the shell's session.
    const pgid = await leader(hogInChild(), { SETPGID: "1" });
    started.push(pgid);
    const scan = new GroupRss();
    expect(mb(scan.measure(new Set([pgid])).get(pgid))).toBeGreaterThan(HOG_MB);
    expect(mb(scan.measure(new Set([pgid])).get(pgid))).toBeGreaterThan(HOG_MB);
    expect(scan.last.read).toBe(scan.last.listed);
  });

  test("new pids are told by the counter, across its wrap", () => {
    expect(startedBetween(105, 100, 110)).toBe(true);
    expect(startedBetween(100, 100, 110)).toBe(false);
    expect(startedBetween(111, 100, 110)).toBe(false);
    expect(startedBetween(5, 32700, 20)).toBe(true);
    expect(startedBetween(32750, 32700, 20)).toBe(true);
    expect(startedBetween(500, 32700, 20)).toBe(false);
    expect(startedBetween(500, 500, 500)).toBe(false);
  });
});
