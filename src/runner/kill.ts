// Whole-tree kill: every job runs in its own process group (spawned detached), so one signal to
// the group reaches the script and everything it started.

/** Signals process group `pgid`; false when the group is already gone. */
export function killGroup(pgid: number, signal: NodeJS.Signals = "SIGKILL"): boolean {
  if (!Number.isInteger(pgid) || pgid <= 1) return false;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}
