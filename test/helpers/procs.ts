// Process inspection through /proc, for tests that check nothing of a job outlives it.
// A killed process may linger as a zombie until its (new) parent reaps it: a zombie counts as gone.
// Parsing is the daemon's own (src/runner/process-tree.ts): one reading of /proc for both.
import { listProcesses, readStat } from "../../src/runner/process-tree.ts";

/** True when the process does not exist or is a zombie (dead, not yet reaped). */
export function isGone(pid: number): boolean {
  const stat = readStat(pid);
  return stat === null || stat.state === "Z" || stat.state === "X";
}

/** Live (non-zombie) processes whose process group is `pgid`. */
export function liveGroupMembers(pgid: number): number[] {
  return listProcesses()
    .filter((p) => p.pgrp === pgid && p.state !== "Z" && p.state !== "X")
    .map((p) => p.pid);
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns its last answer. */
export async function eventually(check: () => boolean, timeoutMs = 5000, everyMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() > deadline) return false;
    await Bun.sleep(everyMs);
  }
}
