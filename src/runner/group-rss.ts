// Resident memory per watched process group, measured four times a second while jobs run, without
// reading every process's /proc/<pid>/stat each time (a workstation runs hundreds of processes that
// are not jobs).
//
// Why skipping is sound: every job leads its own session (spawned detached, or setsid in the fork
// server), so its group id is also its session id. A group lies wholly inside one session, and no
// process can move into another session except a new one of its own. A process once read in some
// other session therefore can never join a watched group; it only needs reading again if its pid
// is a new process. New pids are told by the kernel's pid counter (ns_last_pid): whatever was
// started since the previous scan got a pid in between the two readings of the counter.
//
// Backstops: a full scan every FULL_SCAN_EVERY scans and after a pause, and full scans for good
// where the counter cannot be read or /proc belongs to another pid namespace, or where a watched
// group turns out not to be a session of its own.
import { readFileSync, readlinkSync } from "node:fs";
import { listPids, readStat } from "./process-tree.ts";

const FULL_SCAN_EVERY = 40;
/** After a pause this long the counter may have gone round since: the next scan reads everything. */
const MAX_GAP_MS = 2000;

export interface ScanCounts {
  /** Processes listed in /proc. */
  listed: number;
  /** Of those, how many had their stat read. */
  read: number;
}

export class GroupRss {
  /** Session of each pid listed at the previous scan, as read then. */
  private sessions = new Map<number, number>();
  private lastPid: number | null = null;
  private lastAt = 0;
  private scansSinceFull = 0;
  private skipping = sameNamespace();
  /** What the latest scan did; for tests and benchmarks. */
  last: ScanCounts = { listed: 0, read: 0 };

  /** Resident memory (KB) of each group in `groups`, over its live processes (zombies hold none). */
  measure(groups: { has(pgid: number): boolean }): Map<number, number> {
    // Read before the listing: a process started after this reading is read at the next scan.
    const counter = this.skipping ? readLastPid() : null;
    const previous = this.lastPid;
    const paused = performance.now() - this.lastAt > MAX_GAP_MS;
    this.lastPid = counter;
    this.lastAt = performance.now();
    const full = counter === null || previous === null || paused || ++this.scansSinceFull >= FULL_SCAN_EVERY;
    if (full) this.scansSinceFull = 0;

    const totals = new Map<number, number>();
    const sessions = new Map<number, number>();
    const pids = listPids();
    let read = 0;
    for (const pid of pids) {
      const session = this.sessions.get(pid);
      const known =
        !full &&
        session !== undefined &&
        !groups.has(session) &&
        !groups.has(pid) &&
        !startedBetween(pid, previous as number, counter as number);
      if (known) {
        sessions.set(pid, session);
        continue;
      }
      const info = readStat(pid);
      read++;
      if (!info) continue;
      sessions.set(pid, info.session);
      if (!groups.has(info.pgrp)) continue;
      // Not a session of its own: skipping is unsound for it, so every scan reads everything from now on.
      if (info.session !== info.pgrp) this.skipping = false;
      if (info.state !== "Z") totals.set(info.pgrp, (totals.get(info.pgrp) ?? 0) + info.rssKb);
    }
    this.sessions = sessions;
    this.last = { listed: pids.length, read };
    return totals;
  }
}

/** True when `pid` was handed out after the counter read `before` and up to `after` (it wraps). */
export function startedBetween(pid: number, before: number, after: number): boolean {
  if (after >= before) return pid > before && pid <= after;
  return pid > before || pid <= after;
}

/** The last pid handed out in this pid namespace, or null where the kernel does not tell it. */
function readLastPid(): number | null {
  try {
    const value = Number(readFileSync("/proc/sys/kernel/ns_last_pid", "latin1"));
    return Number.isInteger(value) && value >= 0 ? value : null;
  } catch {
    return null;
  }
}

let namespaceMatches: boolean | null = null;

/**
 * The counter speaks of this process's pid namespace; the listing of /proc's. Skipping needs them
 * equal. Asked once: neither changes while the daemon runs.
 */
function sameNamespace(): boolean {
  if (namespaceMatches === null) {
    try {
      namespaceMatches = Number(readlinkSync("/proc/self")) === process.pid;
    } catch {
      namespaceMatches = false;
    }
  }
  return namespaceMatches;
}
