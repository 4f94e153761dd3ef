// Making what the daemon writes durable: fsync on Bun's I/O threads or in place, a folder's names,
// and a finished job's whole outputs.
//
// syncTree: a finished job's outputs are made durable before its SUCCESS is stored: every regular
// file's data and every folder's names fsynced, so a job found SUCCESS after a power loss has them
// whole. Without it a file a job wrote just before its end stays in the page cache for up to 30 s
// (the kernel's writeback delay), while a later fsynced commit (the next submission's) takes the
// job's SUCCESS row to disk: the row survives and the file comes back empty or missing
// (test/durable-outputs.test.ts shows both on a loop-mounted file system).
import {
  closeSync,
  constants,
  type Dirent,
  fdatasync,
  fsync,
  fsyncSync,
  openSync,
  readdirSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

/**
 * fsync on Bun's I/O threads: the event loop serves other requests and jobs while the disk
 * flushes (each flush blocked it 1 to 1.5 ms under load; no-op jobs ran 17 to 24 % faster
 * without those blocks).
 */
export const fsyncAsync: (fd: number) => Promise<void> = promisify(fsync);

/**
 * fdatasync on Bun's I/O threads: the data and what reading it back needs (the size), not the
 * times (a full fsync would also journal the file's new mtime at every flush): for the store's WAL
 * file, whose name is made durable once when it is opened (store/wal-sync.ts).
 */
export const fdatasyncAsync: (fd: number) => Promise<void> = promisify(fdatasync);

/** syncDir, waited for off the event loop. */
export async function syncDirAsync(path: string): Promise<void> {
  const fd = openSync(path, "r");
  try {
    await fsyncAsync(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsyncs a file or a folder (a folder: so the names in it are durable). */
export function syncDir(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A job's error when syncTree failed on its outputs (its attempt ends `disk`, here or at its origin). */
export function outputsNotDurable(error: unknown): string {
  return `The job's outputs could not be written to disk: ${error instanceof Error ? error.message : String(error)}`;
}

/**
 * Writes a small file so that after a power loss it is either whole or absent (the previous
 * content, if any): written beside it, fsynced, renamed over it, and its folder fsynced.
 */
export function writeFileDurably(path: string, content: string, mode: number): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, content, { mode });
  syncDir(temporary);
  renameSync(temporary, path);
  syncDir(dirname(path));
}

/** fsyncs in flight at once (Bun's I/O threads): thousands of small outputs are not one long queue. */
const PARALLEL = 8;

/**
 * Codes that mean there is nothing of ours to sync at that name: it went, it is not ours to read,
 * or it cannot be reached by a path (a tree deeper than PATH_MAX, which no download reaches either).
 */
const SKIPPED = new Set(["ENOENT", "ENOTDIR", "ELOOP", "ENXIO", "EACCES", "ENAMETOOLONG"]);

async function syncPath(path: string): Promise<void> {
  let fd: number;
  try {
    // Not following a link (what it names is not the job's), not blocking on a FIFO.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if (SKIPPED.has((error as NodeJS.ErrnoException).code ?? "")) return;
    throw error;
  }
  try {
    await fsyncAsync(fd);
  } catch (error) {
    // A special file swapped in after the listing has nothing to flush.
    if ((error as NodeJS.ErrnoException).code !== "EINVAL") throw error;
  } finally {
    closeSync(fd);
  }
}

function entries(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    if (SKIPPED.has((error as NodeJS.ErrnoException).code ?? "")) return [];
    throw error;
  }
}

/**
 * fsyncs every regular file under `root`, then every folder (root included) so the names in it
 * are durable. Links, FIFOs and sockets are left alone. An empty or missing root costs one
 * readdir: its own name was made durable when the job was accepted. Throws the first I/O error
 * (EIO, ENOSPC at writeback): the data may not be on disk.
 */
export async function syncTree(root: string): Promise<void> {
  const files: string[] = [];
  const folders: string[] = [];
  const walk = (dir: string): boolean => {
    const list = entries(dir);
    for (const entry of list) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (walk(path)) folders.push(path);
      } else if (entry.isFile()) files.push(path);
    }
    return list.length > 0;
  };
  if (!walk(root)) return;
  folders.push(root);
  // Files first, then the folders that name them, deepest first.
  for (const batch of [files, folders]) {
    for (let i = 0; i < batch.length; i += PARALLEL) {
      await Promise.all(batch.slice(i, i + PARALLEL).map(syncPath));
    }
  }
}
