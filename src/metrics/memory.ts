// The machine's memory and the daemon's own, for the dashboard's numbers page.
import { readFileSync } from "node:fs";
import { freemem, totalmem } from "node:os";

export interface MemoryState {
  totalBytes: number;
  /** What new processes can still get (Linux MemAvailable; free memory elsewhere). */
  availableBytes: number;
  /** The daemon process's resident memory. */
  daemonRssBytes: number;
}

export function memoryState(): MemoryState {
  let availableBytes = freemem();
  try {
    const match = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"));
    if (match) availableBytes = Number(match[1]) * 1024;
  } catch {
    // not Linux: os.freemem() stands in
  }
  return { totalBytes: totalmem(), availableBytes, daemonRssBytes: process.memoryUsage.rss() };
}
