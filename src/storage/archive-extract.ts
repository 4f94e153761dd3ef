// Extracts an uploaded archive (.zip, .tar, .tar.gz/.tgz) into a folder, refusing anything that
// could write outside it or exhaust the disk (invariant 8): absolute names, `..` escapes, links
// that lead outside, device files, too many entries, too many bytes, a too high compression ratio.
// Everything is streamed: memory stays flat whatever the archive's size.
//
// Entries are written into a fresh folder beside the destination and moved in only when the whole
// archive passed, so a rejected archive leaves nothing behind. Links are made last, after every
// regular entry, so no entry is ever written through a link.
import {
  copyFileSync,
  createReadStream,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve, sep } from "node:path";
import type { Readable } from "node:stream";
import { Inflate } from "fflate";
import { extract as tarExtract } from "tar-stream";
import { formatBytes } from "../text/bytes.ts";
import { type ArchiveKind, archiveKind } from "./archive-kind.ts";
import { assertFreeSpace, writeFully } from "./disk.ts";
import { StorageError } from "./errors.ts";
import { syncDir } from "./fsync.ts";
import { openZip, type ZipEntry, ZipFormatError } from "./zip-reader.ts";

export { type ArchiveKind, archiveKind };

export interface ArchiveLimits {
  maxEntries: number;
  /** Total bytes of the extracted files. */
  maxBytes: number;
  /** Extracted bytes / archive bytes. */
  maxRatio: number;
  /** Free disk to keep (MIN_FREE_DISK). */
  minFreeDisk: number;
}

/** Archives that extract to less than this are not held to the ratio (tiny text files compress well). */
export const RATIO_EXEMPT_BYTES = 16 * 1024 * 1024;
/** Longest link target read from a zip entry. */
const MAX_LINK_TARGET = 4096;
/** Deflate input is fed in slices this big, so one push inflates to at most ~1000x of it. */
const INFLATE_SLICE = 16 * 1024;
/** Free disk is checked again each time this many more bytes were written. */
const SPACE_CHECK_EVERY = 256 * 1024 * 1024;

export interface Extracted {
  /** Regular files, relative to the destination, sorted. */
  files: string[];
  entries: number;
  bytes: number;
}

const rejected = (archive: string, why: string) =>
  new StorageError("invalid", `The archive '${archive}' was refused: ${why}`);

/**
 * An entry's name as a safe relative path ('' for the root itself), or a refusal naming it.
 * Backslashes count as separators (archivers on Windows write them).
 */
export function entryPath(archive: string, raw: string): string {
  const quoted = JSON.stringify(raw);
  if (raw.includes("\0")) throw rejected(archive, `entry ${quoted} has a NUL byte in its name`);
  const name = raw.replaceAll("\\", "/");
  if (name.startsWith("/") || /^[A-Za-z]:/.test(name) || isAbsolute(name)) {
    throw rejected(archive, `entry ${quoted} has an absolute path`);
  }
  const parts = name.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) throw rejected(archive, `entry ${quoted} leads outside the archive with '..'`);
  if (parts.some((part) => Buffer.byteLength(part) > 255) || Buffer.byteLength(name) > 4096) {
    throw rejected(archive, `entry ${quoted} has a name too long for the file system`);
  }
  return parts.join("/");
}

interface PendingLink {
  entry: string;
  path: string;
  target: string;
  hard: boolean;
}

class Extraction {
  readonly files: string[] = [];
  private readonly dirs = new Set<string>();
  private readonly links: PendingLink[] = [];
  private readonly seen = new Set<string>();
  entries = 0;
  bytes = 0;
  private nextSpaceCheck = SPACE_CHECK_EVERY;

  constructor(
    readonly archive: string,
    readonly root: string,
    private readonly archiveBytes: number,
    private readonly limits: ArchiveLimits,
  ) {}

  entriesLimit(): number {
    return this.limits.maxEntries;
  }

  refuse(why: string): StorageError {
    return rejected(this.archive, why);
  }

  /** Counts an entry and returns its safe path ('' = the root). */
  enter(raw: string): string {
    this.entries++;
    if (this.entries > this.limits.maxEntries) {
      throw this.refuse(`it has more than ${this.limits.maxEntries} entries (ARCHIVE_MAX_ENTRIES)`);
    }
    const path = entryPath(this.archive, raw);
    if (path !== "" && this.seen.has(path)) throw this.refuse(`entry ${JSON.stringify(raw)} appears twice`);
    if (path !== "") this.seen.add(path);
    return path;
  }

  /** Checks the totals before anything is written, from what the archive declares (zip). */
  checkDeclared(total: number): void {
    this.checkTotals(total);
    assertFreeSpace(this.root, total, this.limits.minFreeDisk, `extracting '${this.archive}'`);
  }

  private checkTotals(total: number): void {
    if (total > this.limits.maxBytes) {
      throw this.refuse(`it extracts to more than ${formatBytes(this.limits.maxBytes)} (ARCHIVE_MAX_SIZE)`);
    }
    if (total > RATIO_EXEMPT_BYTES && total > this.limits.maxRatio * this.archiveBytes) {
      throw this.refuse(
        `it extracts to more than ${this.limits.maxRatio} times its own size (ARCHIVE_MAX_RATIO; a zip bomb?)`,
      );
    }
  }

  /** Counts bytes as they are written: sizes an archive declares may lie. */
  wrote(n: number): void {
    this.bytes += n;
    this.checkTotals(this.bytes);
    if (this.bytes >= this.nextSpaceCheck) {
      this.nextSpaceCheck += SPACE_CHECK_EVERY;
      assertFreeSpace(this.root, 0, this.limits.minFreeDisk, `extracting '${this.archive}'`);
    }
  }

  mkdir(path: string): void {
    if (path === "") return;
    const full = join(this.root, path);
    try {
      mkdirSync(full, { recursive: true, mode: 0o750 });
    } catch {
      throw this.refuse(`entry ${JSON.stringify(path)} conflicts with a file of the same name`);
    }
    let dir = path;
    while (dir !== "." && dir !== "") {
      this.dirs.add(dir);
      dir = dirname(dir);
    }
  }

  async create(raw: string, path: string): Promise<FileHandle> {
    if (path === "") throw this.refuse(`entry ${JSON.stringify(raw)} is a file without a name`);
    this.mkdir(dirname(path) === "." ? "" : dirname(path));
    try {
      const handle = await open(join(this.root, path), "wx", 0o640);
      this.files.push(path);
      return handle;
    } catch {
      throw this.refuse(`entry ${JSON.stringify(raw)} conflicts with another entry`);
    }
  }

  link(raw: string, path: string, target: string, hard: boolean): void {
    if (path === "") throw this.refuse(`entry ${JSON.stringify(raw)} is a link without a name`);
    if (target === "" || target.includes("\0") || isAbsolute(target) || /^[A-Za-z]:/.test(target)) {
      throw this.refuse(
        `link ${JSON.stringify(raw)} points outside the archive (to ${JSON.stringify(target)})`,
      );
    }
    const lexical = hard ? resolve(this.root, target) : resolve(this.root, dirname(path), target);
    if (lexical !== this.root && !lexical.startsWith(this.root + sep)) {
      throw this.refuse(
        `link ${JSON.stringify(raw)} points outside the archive (to ${JSON.stringify(target)})`,
      );
    }
    this.links.push({ entry: raw, path, target, hard });
  }

  /**
   * Refuses a link whose folder goes through a symlink made earlier. Each target passes the lexical
   * check alone, but a chain (`c -> .`, `up -> c/..`) leads outside physically, and a folder made
   * or a link written through it would land outside before the final realpath check could refuse.
   */
  private assertNoLinkOnTheWay(link: PendingLink): void {
    let at = this.root;
    for (const part of link.path.split("/").slice(0, -1)) {
      at = join(at, part);
      const stat = lstatSync(at, { throwIfNoEntry: false });
      if (!stat) return; // from here mkdir makes fresh folders: no link on the way
      if (stat.isSymbolicLink()) {
        throw this.refuse(
          `link ${JSON.stringify(link.entry)} lies inside another link (${JSON.stringify(part)})`,
        );
      }
    }
  }

  /** Makes the links (hard links become copies), then checks where every symlink really leads. */
  finishLinks(): void {
    const ordered = [...this.links.filter((l) => l.hard), ...this.links.filter((l) => !l.hard)];
    for (const link of ordered) {
      const full = join(this.root, link.path);
      this.assertNoLinkOnTheWay(link);
      this.mkdir(dirname(link.path) === "." ? "" : dirname(link.path));
      try {
        if (link.hard) {
          const source = join(this.root, entryPath(this.archive, link.target));
          if (!lstatSync(source).isFile()) throw new Error("not a regular file");
          copyFileSync(source, full, 1 /* COPYFILE_EXCL */);
          this.files.push(link.path);
        } else {
          symlinkSync(link.target, full);
        }
      } catch (error) {
        if (error instanceof StorageError) throw error;
        throw this.refuse(
          `link ${JSON.stringify(link.entry)} cannot be made (${link.hard ? "its target is not a file of the archive" : "another entry has its name"})`,
        );
      }
    }
    const realRoot = realpathSync(this.root);
    for (const link of ordered) {
      if (link.hard) continue;
      let real: string;
      try {
        real = realpathSync(join(this.root, link.path));
      } catch {
        throw this.refuse(`link ${JSON.stringify(link.entry)} points to nothing inside the archive`);
      }
      if (real !== realRoot && !real.startsWith(realRoot + sep)) {
        throw this.refuse(`link ${JSON.stringify(link.entry)} points outside the archive`);
      }
    }
  }

  /** fsyncs every folder made (files were synced as they were closed). */
  syncDirs(): void {
    for (const dir of this.dirs) syncDir(join(this.root, dir));
    syncDir(this.root);
  }
}

async function closeSynced(handle: FileHandle): Promise<void> {
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function extractZip(path: string, x: Extraction): Promise<void> {
  const tooMany = (count: number) =>
    x.refuse(`it has ${count} entries, more than ${x.entriesLimit()} (ARCHIVE_MAX_ENTRIES)`);
  let zip: Awaited<ReturnType<typeof openZip>>;
  try {
    zip = await openZip(path, x.entriesLimit(), tooMany);
  } catch (error) {
    if (error instanceof ZipFormatError) throw x.refuse(`it is not a readable zip file: ${error.message}`);
    throw error;
  }
  try {
    const entries = zip.entries;
    // Checks on the whole listing first: nothing is written for an archive refused here.
    const paths = entries.map((entry) => {
      const p = x.enter(entry.name);
      const quoted = JSON.stringify(entry.name);
      if (entry.kind === "special") throw x.refuse(`entry ${quoted} is a device or other special file`);
      if (entry.encrypted) throw x.refuse(`entry ${quoted} is encrypted`);
      if (entry.kind !== "directory" && entry.method !== 0 && entry.method !== 8) {
        throw x.refuse(
          `entry ${quoted} uses compression method ${entry.method} (only stored and deflate are supported)`,
        );
      }
      return p;
    });
    checkNoOverlap(entries, zip.fileSize, x);
    x.checkDeclared(entries.reduce((sum, e) => sum + (e.kind === "file" ? e.size : 0), 0));

    for (const [i, entry] of entries.entries()) {
      const p = paths[i]!;
      if (entry.kind === "directory") {
        x.mkdir(p);
        continue;
      }
      const start = await zip.dataOffset(entry);
      if (start + entry.compressedSize > zip.fileSize)
        throw x.refuse(`entry ${JSON.stringify(entry.name)} is truncated`);
      if (entry.kind === "symlink") {
        if (entry.size > MAX_LINK_TARGET)
          throw x.refuse(`link ${JSON.stringify(entry.name)} has a too long target`);
        const chunks: Uint8Array[] = [];
        await inflateEntry(
          path,
          start,
          entry,
          x,
          async (c) => {
            chunks.push(c.slice());
          },
          false,
        );
        x.link(entry.name, p, Buffer.concat(chunks).toString("utf8"), false);
        continue;
      }
      const handle = await x.create(entry.name, p);
      try {
        await inflateEntry(path, start, entry, x, (chunk) => writeFully(handle, chunk), true);
      } finally {
        await closeSynced(handle);
      }
    }
  } catch (error) {
    // A local header that is missing or cut short is only found here, entry by entry.
    if (error instanceof ZipFormatError) throw x.refuse(`it is not a readable zip file: ${error.message}`);
    throw error;
  } finally {
    await zip.close();
  }
}

/** Entries whose data overlap (the "overlapping files" zip bomb) are refused. */
function checkNoOverlap(entries: ZipEntry[], fileSize: number, x: Extraction): void {
  const sorted = [...entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  for (let i = 0; i < sorted.length; i++) {
    const entry = sorted[i]!;
    const next = sorted[i + 1]?.localHeaderOffset ?? fileSize;
    // 30 bytes of local header, then at least the name, then the data.
    if (entry.localHeaderOffset + 30 + entry.compressedSize > next) {
      throw x.refuse(`entry ${JSON.stringify(entry.name)} overlaps another entry's data (a zip bomb?)`);
    }
  }
}

/** Streams one entry's data through fflate, checking size and CRC as it goes. */
async function inflateEntry(
  path: string,
  start: number,
  entry: ZipEntry,
  x: Extraction,
  sink: (chunk: Uint8Array) => Promise<void>,
  counted: boolean,
): Promise<void> {
  const quoted = JSON.stringify(entry.name);
  let produced = 0;
  let crc = 0;
  const take = async (chunks: Uint8Array[]) => {
    for (const chunk of chunks) {
      produced += chunk.length;
      if (produced > entry.size)
        throw x.refuse(`entry ${quoted} holds more data than it declares (a zip bomb?)`);
      if (counted) x.wrote(chunk.length);
      crc = Bun.hash.crc32(chunk, crc);
      await sink(chunk);
    }
  };
  const source = Bun.file(path)
    .slice(start, start + entry.compressedSize)
    .stream();
  if (entry.method === 0) {
    for await (const chunk of source) await take([chunk]);
  } else {
    let out: Uint8Array[] = [];
    let ended = false;
    const inflate = new Inflate((chunk, final) => {
      out.push(chunk);
      if (final) ended = true;
    });
    const push = async (chunk: Uint8Array, final: boolean) => {
      try {
        inflate.push(chunk, final);
      } catch (error) {
        throw x.refuse(`entry ${quoted} is corrupt (${(error as Error).message})`);
      }
      const ready = out;
      out = [];
      await take(ready);
    };
    for await (const chunk of source) {
      for (let o = 0; o < chunk.length; o += INFLATE_SLICE) {
        await push(chunk.subarray(o, Math.min(o + INFLATE_SLICE, chunk.length)), false);
      }
    }
    if (!ended) await push(new Uint8Array(0), true);
  }
  if (produced !== entry.size) throw x.refuse(`entry ${quoted} is truncated or corrupt (size mismatch)`);
  if (crc >>> 0 !== entry.crc32 >>> 0) throw x.refuse(`entry ${quoted} is corrupt (CRC mismatch)`);
}

async function extractTar(path: string, gzipped: boolean, x: Extraction): Promise<void> {
  // node:zlib is loaded with the first .tar.gz, not with the daemon.
  const gunzip = gzipped ? (await import("node:zlib")).createGunzip() : null;
  const file = createReadStream(path);
  const extract = tarExtract();
  const input: Readable = gunzip ? file.pipe(gunzip) : file;
  let sourceError: Error | null = null;
  const onError = (error: Error) => {
    sourceError ??= error;
    extract.destroy(error);
  };
  file.on("error", onError);
  input.on("error", onError);
  input.pipe(extract as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of extract) {
      const { header } = entry;
      const quoted = JSON.stringify(header.name);
      const p = x.enter(header.name);
      switch (header.type) {
        case "file":
        case "contiguous-file": {
          const handle = await x.create(header.name, p);
          try {
            for await (const chunk of entry as AsyncIterable<Uint8Array>) {
              x.wrote(chunk.length);
              await writeFully(handle, chunk);
            }
          } finally {
            await closeSynced(handle);
          }
          break;
        }
        case "directory":
          x.mkdir(p);
          entry.resume();
          break;
        case "symlink":
        case "link":
          x.link(header.name, p, header.linkname, header.type === "link");
          entry.resume();
          break;
        case "character-device":
        case "block-device":
        case "fifo":
          throw x.refuse(`entry ${quoted} is a device or other special file (${header.type})`);
        default:
          throw x.refuse(`entry ${quoted} has an unsupported type`);
      }
    }
  } catch (error) {
    // A full disk is not a bad archive: extractArchive answers it with 507, as for a zip.
    if (error instanceof StorageError || (error as NodeJS.ErrnoException).code === "ENOSPC") throw error;
    const why = (sourceError ?? (error as Error)).message;
    throw x.refuse(`it is not a readable ${gzipped ? "tar.gz" : "tar"} file: ${why}`);
  } finally {
    file.destroy();
    extract.destroy();
  }
}

/**
 * Extracts `archivePath` into `destDir` (which must exist). On refusal, throws an "invalid"
 * StorageError naming the entry, and `destDir` is left as it was.
 */
export async function extractArchive(
  archivePath: string,
  kind: ArchiveKind,
  destDir: string,
  limits: ArchiveLimits,
  displayName: string,
): Promise<Extracted> {
  const work = join(dirname(destDir), `.extract-${crypto.randomUUID()}`);
  mkdirSync(work, { mode: 0o750 });
  try {
    const size = Bun.file(archivePath).size;
    const x = new Extraction(displayName, resolve(work), size, limits);
    if (kind === "zip") await extractZip(archivePath, x);
    else await extractTar(archivePath, kind === "tar.gz", x);
    x.finishLinks();
    x.syncDirs();
    const top = readdirSync(work);
    for (const name of top) {
      if (existsSync(join(destDir, name))) {
        throw x.refuse(`entry ${JSON.stringify(name)} has the same name as the uploaded archive`);
      }
    }
    for (const name of top) renameSync(join(work, name), join(destDir, name));
    syncDir(destDir);
    return { files: x.files.sort(), entries: x.entries, bytes: x.bytes };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOSPC") {
      throw new StorageError("no-space", `The disk filled up while '${displayName}' was extracted`);
    }
    throw error;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
