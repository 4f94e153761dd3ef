// Moving a job's files between peers: no shared disk. The origin lists a job's script and inputs
// with their SHA-256 (a manifest); the executor pulls each file, streamed to disk and hash-checked;
// outputs travel back the same way before the origin records the outcome. Nothing is held whole
// in memory, so a 200 MB input costs a copy's worth of disk, not of RAM.
import { createHash } from "node:crypto";
import {
  closeSync,
  constants,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { open } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fsyncAsync } from "../storage/fsync.ts";

export interface ManifestEntry {
  /** Relative to the job folder: `script/<file>`, `inputs/...`, or (outputs) relative to outputs/. */
  path: string;
  size: number;
  sha256: string;
}

/** Bytes read at a time by hashFile: a file stream's 64 KB chunks made 200 MB 10 to 40 % slower. */
const HASH_READ_BYTES = 4 * 1024 * 1024;

/**
 * The SHA-256 of a regular file, read in large pieces on Bun's I/O threads. The name is opened
 * without following a link or blocking on a FIFO, and what was opened must be a regular file: a
 * process a job left behind could swap the name after the manifest's lstat.
 */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  const file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    if (!(await file.stat()).isFile()) throw new Error(`not a regular file: ${path}`);
    const buffer = Buffer.allocUnsafe(HASH_READ_BYTES);
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await file.close();
  }
  return hash.digest("hex");
}

/** Every regular file under `root`/`sub` (links and devices are not sent), with size and hash. */
export async function manifest(root: string, subs: string[]): Promise<ManifestEntry[]> {
  const entries: ManifestEntry[] = [];
  const walk = async (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return; // no such folder (no inputs)
    }
    for (const name of names.sort()) {
      const path = join(dir, name);
      const info = lstatSync(path);
      if (info.isDirectory()) await walk(path);
      else if (info.isFile())
        entries.push({ path: relative(root, path), size: info.size, sha256: await hashFile(path) });
    }
  };
  for (const sub of subs) await walk(join(root, sub));
  return entries;
}

/**
 * Streams `body` into `dest` (through a temporary file beside it), hashing as it goes; the file is
 * moved into place only when its SHA-256 is `sha256`. Throws (and leaves nothing) otherwise.
 * `durable`: fsynced before it is moved into place. The origin asks it for the outputs it receives
 * (the flush then happens while the executor's lease is renewed, not in its `finish`, which only
 * syncs their folders); an executor's copy of the inputs needs none (after a power loss there, the
 * lease runs out and the origin places the job again).
 */
export async function receiveFile(
  body: ReadableStream<Uint8Array> | null,
  dest: string,
  sha256: string,
  durable: boolean,
): Promise<number> {
  mkdirSync(dirname(dest), { recursive: true });
  const temp = `${dest}.part-${process.pid}-${crypto.randomUUID()}`;
  const hash = createHash("sha256");
  const fd = openSync(temp, "w", 0o644);
  let size = 0;
  try {
    if (body) {
      for await (const chunk of body) {
        hash.update(chunk);
        // Written at once, chunk by chunk (about 64 KB, tens of microseconds into the page cache):
        // an awaited write per chunk (fs/promises, a thread-pool round trip each) took 200 MB in
        // 550 to 940 ms on loopback, this 370 (bench/federation.ts, docs/federation.md).
        for (let offset = 0; offset < chunk.length; ) {
          offset += writeSync(fd, chunk, offset, chunk.length - offset);
        }
        size += chunk.length;
      }
    }
    if (durable) await fsyncAsync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  closeSync(fd);
  if (hash.digest("hex") !== sha256) {
    rmSync(temp, { force: true });
    throw new Error(`the file does not match its SHA-256: ${dest}`);
  }
  renameSync(temp, dest);
  return size;
}
