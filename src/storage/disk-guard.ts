// The data disk's state (for /health, /metrics and doctor) and a small emergency reserve.
//
// A job can fill the disk the database lives on. Its outcome must still be stored, or the job stays
// STARTED on a slot nobody runs. So at start the daemon sets aside a few MiB in a plain file; when a
// store write fails for lack of space, the file is deleted and the write tried again with that room.
// The reserve comes back once the disk has room for it again.
import { closeSync, existsSync, openSync, rmSync, statfsSync, writeSync } from "node:fs";
import { join } from "node:path";
import { formatBytes } from "../text/bytes.ts";

/** Room kept for the store's own writes: a few outcomes' worth of WAL pages, with a wide margin. */
export const DISK_RESERVE_BYTES = 8 * 1024 * 1024;
/** How often the reserve's return is tried while it is given away. */
const RESTORE_EVERY_MS = 5000;

export interface DiskState {
  freeBytes: number;
  totalBytes: number;
  /** MIN_FREE_DISK: uploads are refused (507) below it. */
  floorBytes: number;
  /** Free space is under the floor. */
  low: boolean;
  /** A store write failed for lack of space and the reserve is not back yet. */
  full: boolean;
}

/** True for an error that says the disk (or the database) has no space left, wherever it was wrapped. */
export function isDiskFull(error: unknown): boolean {
  for (let e = error as { code?: unknown; message?: unknown; cause?: unknown } | undefined; e; ) {
    if (e.code === "SQLITE_FULL" || e.code === "ENOSPC") return true;
    if (typeof e.message === "string" && /database or disk is full|no space left on device/i.test(e.message))
      return true;
    e = e.cause as typeof e;
  }
  return false;
}

/** Free and total space of the disk holding `path`, against the floor `floorBytes` (MIN_FREE_DISK). */
export function diskSpace(path: string, floorBytes: number): Omit<DiskState, "full"> {
  const stat = statfsSync(path);
  const freeBytes = Number(stat.bavail) * Number(stat.bsize);
  return {
    freeBytes,
    totalBytes: Number(stat.blocks) * Number(stat.bsize),
    floorBytes,
    low: freeBytes < floorBytes,
  };
}

/** What is wrong with MIN_FREE_DISK on this disk, for the start log and doctor; null when nothing. */
export function floorProblem(
  state: Pick<DiskState, "freeBytes" | "totalBytes" | "floorBytes">,
): string | null {
  const { freeBytes, totalBytes, floorBytes } = state;
  if (floorBytes > totalBytes)
    return `MIN_FREE_DISK (${formatBytes(floorBytes)}) is larger than the whole data disk (${formatBytes(totalBytes)}): every upload is refused (507)`;
  if (freeBytes < floorBytes)
    return `${formatBytes(freeBytes)} free on the data disk, below MIN_FREE_DISK (${formatBytes(floorBytes)}): every upload is refused (507)`;
  return null;
}

export class DiskGuard {
  private readonly reserveFile: string;
  private timer: ReturnType<typeof setInterval> | null = null;
  private released = false;

  constructor(
    private readonly dataDir: string,
    private readonly floorBytes: number,
    private readonly reserveBytes = DISK_RESERVE_BYTES,
  ) {
    this.reserveFile = join(dataDir, "disk-reserve");
  }

  /** Sets the reserve aside (when the disk has room for it) and starts watching for its return. */
  start(): void {
    this.restore();
    this.timer ??= setInterval(() => this.restore(), RESTORE_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  state(): DiskState {
    return { ...diskSpace(this.dataDir, this.floorBytes), full: this.released };
  }

  /**
   * A write failed for lack of space: gives the reserve back to the disk. True when that freed
   * something (worth trying the write again at once), false when it was already gone.
   */
  releaseReserve(): boolean {
    this.released = true;
    if (!existsSync(this.reserveFile)) return false;
    rmSync(this.reserveFile, { force: true });
    return true;
  }

  /** Writes the reserve again once the disk has room for it and some to spare. */
  private restore(): void {
    if (existsSync(this.reserveFile)) return;
    try {
      if (this.state().freeBytes < this.floorBytes + 2 * this.reserveBytes) return;
      // Real blocks (zeros written, not a sparse file), so deleting it really frees them. No fsync:
      // the space is taken when the write returns, and after a crash the next start writes it again.
      const fd = openSync(this.reserveFile, "w", 0o600);
      try {
        const chunk = new Uint8Array(1024 * 1024);
        for (let left = this.reserveBytes; left > 0; left -= chunk.length)
          writeSync(fd, chunk, 0, Math.min(chunk.length, left));
      } finally {
        closeSync(fd);
      }
      this.released = false;
    } catch {
      // The disk filled meanwhile: a partial reserve is no reserve.
      rmSync(this.reserveFile, { force: true });
    }
  }
}
