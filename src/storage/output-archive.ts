// The zip of a job's outputs, built streaming with fflate: a pull-based stream feeds one entry
// chunk at a time (highWaterMark 0), so memory stays flat whatever the outputs' size. Data that is
// already compressed is stored (level 0), the rest deflated. The archive is written beside its
// final name and renamed into place once complete, so a partial zip is never served.
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Zip, ZipDeflate, ZipPassThrough } from "fflate";
import { formatBytes } from "../text/bytes.ts";
import { writeFully } from "./disk.ts";
import { StorageError } from "./errors.ts";
import { syncDir } from "./fsync.ts";

/** Extensions of formats that are compressed already: deflating them again only costs time. */
const STORED = new Set(
  "zip gz tgz bz2 xz zst 7z rar png jpg jpeg webp gif avif heic mp4 mov mkv webm mp3 ogg ktx2 basis drc usdz pxz 3mf docx xlsx pptx".split(
    " ",
  ),
);

/** fflate writes no ZIP64: offsets and sizes must stay below 4 GiB, entries below 65536. */
const ZIP32_MAX_BYTES = 0xffffffff;
const ZIP32_MAX_ENTRIES = 0xffff;

function stored(path: string): boolean {
  const dot = path.lastIndexOf(".");
  return dot >= 0 && STORED.has(path.slice(dot + 1).toLowerCase());
}

/** Refuses (413) outputs a zip without ZIP64 cannot hold. */
export function assertZippable(baseDir: string, files: readonly string[]): void {
  let bytes = 22;
  for (const file of files) {
    const size = statSync(join(baseDir, file)).size;
    // Worst case per entry: stored size (+0.1% when deflate cannot shrink it), two headers, the
    // name twice, a data descriptor.
    bytes += size + Math.ceil(size / 1000) + 30 + 46 + 16 + 2 * Buffer.byteLength(file) + 64;
  }
  if (files.length > ZIP32_MAX_ENTRIES || bytes > ZIP32_MAX_BYTES) {
    throw new StorageError(
      "too-large",
      `The outputs (${files.length} files, ${formatBytes(bytes)}) are more than one zip can hold (65535 files, 4 GiB): download them one by one`,
    );
  }
}

/** A zip of `files` (paths relative to `baseDir`, kept as entry names), produced as it is read. */
export function zipStream(baseDir: string, files: readonly string[]): ReadableStream<Uint8Array> {
  const ready: Uint8Array[] = [];
  let finished = false;
  let failure: Error | null = null;
  const zip = new Zip((error, chunk, final) => {
    if (error) failure = error;
    else {
      ready.push(chunk);
      if (final) finished = true;
    }
  });
  let next = 0;
  let ended = false;
  type Reader = { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(): Promise<void> };
  type Current = { entry: ZipDeflate | ZipPassThrough; reader: Reader };
  let current = null as Current | null;

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          while (ready.length === 0 && !finished && !failure) {
            let reading = current;
            if (!reading) {
              if (next >= files.length) {
                if (!ended) {
                  ended = true;
                  zip.end();
                }
                continue;
              }
              const name = files[next++]!;
              const path = join(baseDir, name);
              const entry = stored(name) ? new ZipPassThrough(name) : new ZipDeflate(name, { level: 6 });
              entry.mtime = statSync(path).mtime;
              zip.add(entry);
              reading = { entry, reader: Bun.file(path).stream().getReader() as Reader };
              current = reading;
            }
            const { done, value } = await reading.reader.read();
            if (done || !value) {
              reading.entry.push(new Uint8Array(0), true);
              current = null;
            } else {
              reading.entry.push(value, false);
            }
          }
        } catch (error) {
          failure = error as Error;
        }
        if (failure) controller.error(failure);
        else if (ready.length > 0)
          controller.enqueue(ready.length === 1 ? ready.pop()! : concat(ready.splice(0)));
        else controller.close();
      },
      async cancel() {
        await current?.reader.cancel();
      },
    },
    { highWaterMark: 0 },
  );
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** Writes the zip of `files` under `baseDir` to `target` (atomically); returns its size. */
export async function writeZip(baseDir: string, files: readonly string[], target: string): Promise<number> {
  assertZippable(baseDir, files);
  mkdirSync(dirname(target), { recursive: true });
  // What a build interrupted by a crash left behind.
  for (const name of readdirSync(dirname(target))) {
    if (name.startsWith(`${basename(target)}.part-`)) rmSync(join(dirname(target), name), { force: true });
  }
  const temporary = `${target}.part-${crypto.randomUUID()}`;
  const handle = await open(temporary, "wx", 0o640);
  let size = 0;
  try {
    for await (const chunk of zipStream(baseDir, files)) {
      await writeFully(handle, chunk);
      size += chunk.length;
    }
    await handle.sync();
    await handle.close();
    renameSync(temporary, target);
    syncDir(dirname(target));
    return size;
  } catch (error) {
    await handle.close().catch(() => {});
    rmSync(temporary, { force: true });
    throw error;
  }
}
