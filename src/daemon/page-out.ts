// The executable's pages back to the kernel once the daemon is idle. The compiled binary is ~130 MB
// mapped from its file; a load touches code and data across it, and those pages stay resident
// (and counted in the daemon's RSS and its cgroup) long after: 47 MiB of the binary's pages 65 s
// after 1,000 no-op jobs against 44 at start (bench/footprint.ts). `madvise(MADV_PAGEOUT)` over
// the executable's mappings has the kernel reclaim the clean pages that only this process maps;
// what the next request needs is read back then (the first job after an idle period was not
// measurably slower: docs/performance.md). Linux 5.4 or later; anywhere else (no libc to call,
// an older kernel) nothing happens.
import { readFileSync, readlinkSync } from "node:fs";

/** linux/mman.h */
const MADV_PAGEOUT = 21;

type Madvise = (address: bigint, length: bigint, advice: number) => number;
/** Bound on first use (bun:ffi is not loaded by a daemon that never idles); null: not available. */
let madvise: Madvise | null | undefined;

function bindMadvise(): Madvise | null {
  try {
    const { dlopen, FFIType } = require("bun:ffi") as typeof import("bun:ffi");
    const libc = dlopen("libc.so.6", {
      madvise: { args: [FFIType.u64, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
    });
    return (address, length, advice) => libc.symbols.madvise(address, length, advice) as number;
  } catch {
    return null;
  }
}

/**
 * The address ranges `/proc/self/maps` shows for `file` (every mapping of it: code, read-only
 * data, relocated data).
 */
export function mappingsOf(maps: string, file: string): { start: bigint; length: bigint }[] {
  const ranges: { start: bigint; length: bigint }[] = [];
  for (const line of maps.split("\n")) {
    // "start-end perms offset dev inode   path": the path is the rest of the line after the inode.
    if (!line.endsWith(` ${file}`)) continue;
    const [start, end] = line.slice(0, line.indexOf(" ")).split("-");
    const from = BigInt(`0x${start}`);
    ranges.push({ start: from, length: BigInt(`0x${end}`) - from });
  }
  return ranges;
}

/** Asks the kernel to reclaim this process's pages of its executable; how many mappings it took. */
export function pageOutExecutable(): number {
  madvise ??= bindMadvise();
  if (!madvise) return 0;
  let done = 0;
  // The kernel's name for the file, as the maps show it: symlinks resolved, " (deleted)" once an
  // upgrade replaced the binary under the running daemon.
  const executable = readlinkSync("/proc/self/exe");
  for (const range of mappingsOf(readFileSync("/proc/self/maps", "utf8"), executable)) {
    if (madvise(range.start, range.length, MADV_PAGEOUT) === 0) done++;
  }
  return done;
}
