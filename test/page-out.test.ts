// The idle daemon's page-out of its executable (daemon/page-out.ts): the mappings found in
// /proc/self/maps, and a real process whose resident pages of its executable drop when it asks.
import { expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import { mappingsOf } from "../src/daemon/page-out.ts";

const MAPS = `00400000-00452000 r--p 00000000 fe:01 123 /opt/pixyz scheduler/bin/pixyz-scheduler
00452000-0180a000 r-xp 00052000 fe:01 123 /opt/pixyz scheduler/bin/pixyz-scheduler
0180a000-0180c000 rw-p 0140a000 fe:01 123 /opt/pixyz scheduler/bin/pixyz-scheduler
7f00aa000000-7f00aa021000 rw-p 00000000 00:00 0 
7f00ab000000-7f00ab100000 r-xp 00000000 fe:01 456 /usr/lib/x86_64-linux-gnu/libc.so.6
7f00ac000000-7f00ac001000 r--p 00000000 fe:01 789 /opt/pixyz scheduler/bin/pixyz-scheduler.old`;

test("the executable's mappings, and only its own, with their lengths", () => {
  expect(mappingsOf(MAPS, "/opt/pixyz scheduler/bin/pixyz-scheduler")).toEqual([
    { start: 0x400000n, length: 0x52000n },
    { start: 0x452000n, length: 0x13b8000n },
    { start: 0x180a000n, length: 0x2000n },
  ]);
  expect(mappingsOf(MAPS, "/nowhere")).toEqual([]);
});

const [major = 0, minor = 0] = release().split(".").map(Number);
const pageoutKernel = major > 5 || (major === 5 && minor >= 4);

test.skipIf(!pageoutKernel)(
  "a process's resident pages of its executable drop when it pages them out",
  async () => {
    // A copy of the runtime, mapped by this child alone: pages other processes also map are not reclaimed.
    const dir = mkdtempSync(join(tmpdir(), "pxs-page-out-"));
    try {
      const runtime = join(dir, "runtime");
      copyFileSync(process.execPath, runtime);
      chmodSync(runtime, 0o755);
      const script = `
      import { readFileSync } from "node:fs";
      import { pageOutExecutable } from ${JSON.stringify(join(import.meta.dir, "../src/daemon/page-out.ts"))};
      const rssFileKb = () => Number(/RssFile:\\s+(\\d+)/.exec(readFileSync("/proc/self/status", "utf8"))[1]);
      const before = rssFileKb();
      const mappings = pageOutExecutable();
      console.log(JSON.stringify({ before, after: rssFileKb(), mappings }));
    `;
      const child = Bun.spawnSync([runtime, "-e", script], { env: { ...process.env, BUN_BE_BUN: "1" } });
      expect(child.stderr.toString()).toBe("");
      const { before, after, mappings } = JSON.parse(child.stdout.toString());
      expect(mappings).toBeGreaterThan(0);
      // The runtime's start alone leaves ~20 MB of its file resident; most of it goes.
      expect(after).toBeLessThan(before / 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
