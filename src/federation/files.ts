// Moving a job's files between peers: no shared disk. The origin lists a job's script and inputs
// with their SHA-256 (a manifest); the executor pulls each file, streamed to disk and hash-checked;
// outputs travel back the same way before the origin records the outcome. Nothing is held whole
// in memory, so a 200 MB input costs a copy's worth of disk, not of RAM.
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, join, relative } from "node:path";

export interface ManifestEntry {
  /** Relative to the job folder: `script/<file>`, `inputs/...`, or (outputs) relative to outputs/. */
  path: string;
  size: number;
  sha256: string;
}

/** The SHA-256 of a file, read in chunks. */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of Bun.file(path).stream()) hash.update(chunk);
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
 */
export async function receiveFile(
  body: ReadableStream<Uint8Array> | null,
  dest: string,
  sha256: string,
): Promise<number> {
  mkdirSync(dirname(dest), { recursive: true });
  const temp = `${dest}.part-${process.pid}-${crypto.randomUUID()}`;
  const hash = createHash("sha256");
  const handle = await open(temp, "w", 0o644);
  let size = 0;
  try {
    if (body) {
      for await (const chunk of body) {
        hash.update(chunk);
        for (let offset = 0; offset < chunk.length; ) {
          offset += (await handle.write(chunk, offset, chunk.length - offset)).bytesWritten;
        }
        size += chunk.length;
      }
    }
    await handle.sync();
  } catch (error) {
    await handle.close();
    rmSync(temp, { force: true });
    throw error;
  }
  await handle.close();
  if (hash.digest("hex") !== sha256) {
    rmSync(temp, { force: true });
    throw new Error(`the file does not match its SHA-256: ${dest}`);
  }
  renameSync(temp, dest);
  return size;
}
