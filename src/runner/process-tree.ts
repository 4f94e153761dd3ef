// Reads the process table (/proc) to measure a job's whole process tree: every process in the
// job's process group, grandchildren included. One scan serves every running job.
import { readdirSync, readFileSync } from "node:fs";

const PAGE_KB = 4;

export interface ProcInfo {
  pid: number;
  pgrp: number;
  session: number;
  state: string;
  rssKb: number;
}

/** Parses /proc/<pid>/stat; the command name may hold spaces and parentheses, so split after the last ')'. */
export function parseStat(pid: number, stat: string): ProcInfo | null {
  const close = stat.lastIndexOf(")");
  if (close < 0) return null;
  const fields = stat.slice(close + 2).split(" ");
  // fields[0] = state (3rd field of stat), fields[2] = pgrp (5th), fields[3] = session (6th),
  // fields[21] = rss in pages (24th).
  const state = fields[0] ?? "?";
  const pgrp = Number(fields[2]);
  const session = Number(fields[3]);
  const rssPages = Number(fields[21]);
  if (!Number.isFinite(pgrp) || !Number.isFinite(session)) return null;
  return { pid, pgrp, session, state, rssKb: Number.isFinite(rssPages) ? rssPages * PAGE_KB : 0 };
}

/** The pids listed in /proc now (empty where there is no /proc). */
export function listPids(): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return []; // no /proc: nothing can be seen
  }
  const pids: number[] = [];
  for (const entry of entries) {
    if (entry.charCodeAt(0) > 57) continue; // not a pid: those are all digits
    const pid = Number(entry);
    if (Number.isInteger(pid)) pids.push(pid);
  }
  return pids;
}

/**
 * /proc/<pid>/stat parsed, or null when the process is gone (it ended between a listing and the
 * read). Read as latin1: only the ASCII fields after the command name are used.
 */
export function readStat(pid: number): ProcInfo | null {
  try {
    return parseStat(pid, readFileSync(`/proc/${pid}/stat`, "latin1"));
  } catch {
    return null;
  }
}

export function listProcesses(): ProcInfo[] {
  const list: ProcInfo[] = [];
  for (const pid of listPids()) {
    const info = readStat(pid);
    if (info) list.push(info);
  }
  return list;
}

/**
 * Live processes of process group `pgid` other than its leader: what a job on a harness that stays
 * (JOBS_PER_CHILD > 1) started and left behind. Only pids above the leader's are read (what the
 * leader started came after it), unless the pid counter wrapped since: then every process is.
 */
export function othersInGroup(pgid: number): number[] {
  const pids = listPids();
  const wrapped = !pids.some((pid) => pid > pgid);
  const others: number[] = [];
  for (const pid of pids) {
    if (pid === pgid || (!wrapped && pid < pgid)) continue;
    const info = readStat(pid);
    if (info && info.pgrp === pgid && info.state !== "Z") others.push(pid);
  }
  return others;
}

/** Resident memory (KB) per process group, over live processes (zombies hold none). */
export function rssByGroup(groups: ReadonlySet<number>): Map<number, number> {
  const totals = new Map<number, number>();
  for (const proc of listProcesses()) {
    if (!groups.has(proc.pgrp) || proc.state === "Z") continue;
    totals.set(proc.pgrp, (totals.get(proc.pgrp) ?? 0) + proc.rssKb);
  }
  return totals;
}

/** The variables that mark every process a daemon starts (warm or cold, and what they start). */
export function nodeMarker(nodeId: string): Record<string, string> {
  return { PIXYZ_NODE: nodeId };
}

/**
 * Live (non-zombie) processes whose environment carries `marker` (the variables this daemon puts
 * in every child's environment), whatever their process group: a script that daemonized (setsid)
 * left its job's group but keeps the marker. A process without it is never touched: after a reboot
 * a recorded pid or group id may belong to someone else.
 */
export function daemonProcesses(marker: Record<string, string>): number[] {
  const wanted = Object.entries(marker).map(([key, value]) => `${key}=${value}`);
  return listProcesses()
    .filter((p) => p.state !== "Z" && p.pid !== process.pid)
    .filter((p) => {
      try {
        const env = readFileSync(`/proc/${p.pid}/environ`, "latin1").split("\0");
        return wanted.every((entry) => env.includes(entry));
      } catch {
        return false;
      }
    })
    .map((p) => p.pid);
}
