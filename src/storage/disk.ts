// Free-space checks: an upload or an extraction that would leave the data disk below the
// configured floor (MIN_FREE_DISK) is refused before it writes.
import { statfsSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { formatBytes } from "../text/bytes.ts";
import { StorageError } from "./errors.ts";

/** Writes the whole chunk (a write may take only part of it). */
export async function writeFully(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

/** Bytes an unprivileged process may still write on the filesystem holding `path`. */
export function freeBytes(path: string): number {
  const stat = statfsSync(path);
  return Number(stat.bavail) * Number(stat.bsize);
}

/** Throws a "no-space" StorageError unless `needed` bytes fit above `floor` on `path`'s disk. */
export function assertFreeSpace(path: string, needed: number, floor: number, what: string): void {
  if (floor <= 0 && needed <= 0) return;
  const free = freeBytes(path);
  if (free - needed < floor) {
    throw new StorageError(
      "no-space",
      `Not enough free disk for ${what}: ${formatBytes(free)} free, ${formatBytes(needed)} needed, and the server keeps ${formatBytes(floor)} free (MIN_FREE_DISK)`,
    );
  }
}
