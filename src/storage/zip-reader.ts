// Reads the central directory of a zip file on disk (ZIP64 included) without loading the file:
// the list of entries with their declared sizes, kinds and where their data lies. Data is then
// streamed entry by entry (see archive-extract.ts), inflated with fflate.
import { type FileHandle, open } from "node:fs/promises";

export interface ZipEntry {
  /** The raw name as stored (UTF-8, or Latin-1 for old tools). */
  name: string;
  method: number;
  encrypted: boolean;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  /** From the Unix mode when the archiver stored one (host 3), else from the name. */
  kind: "file" | "directory" | "symlink" | "special";
}

export class ZipFormatError extends Error {}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX32 = 0xffffffff;
/** The central directory is read whole; past this it is refused rather than loaded. */
const MAX_CENTRAL_DIRECTORY_BYTES = 256 * 1024 * 1024;

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buffer, 0, length, position);
  if (bytesRead !== length) throw new ZipFormatError("the file ends early (truncated zip)");
  return buffer;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
function decodeName(bytes: Buffer, utf8Flag: boolean): string {
  if (utf8Flag) return bytes.toString("utf8");
  try {
    return utf8.decode(bytes);
  } catch {
    return bytes.toString("latin1");
  }
}

function kindOf(versionMadeBy: number, externalAttrs: number, name: string): ZipEntry["kind"] {
  const host = versionMadeBy >>> 8;
  const mode = (externalAttrs >>> 16) & 0xffff;
  if (host === 3 && mode !== 0) {
    const type = mode & 0o170000;
    if (type === 0o120000) return "symlink";
    if (type === 0o040000) return "directory";
    if (type === 0o100000 || type === 0) return name.endsWith("/") ? "directory" : "file";
    return "special"; // character or block device, fifo, socket
  }
  return name.endsWith("/") || (externalAttrs & 0x10) !== 0 ? "directory" : "file";
}

export interface ZipFile {
  entries: ZipEntry[];
  fileSize: number;
  /** Where the entry's data starts (after its local header). */
  dataOffset(entry: ZipEntry): Promise<number>;
  close(): Promise<void>;
}

/**
 * Opens a zip and lists its entries. `maxEntries` is checked against the count the archive
 * declares, before the central directory is read.
 */
export async function openZip(
  path: string,
  maxEntries: number,
  onTooMany: (count: number) => Error,
): Promise<ZipFile> {
  const fh = await open(path, "r");
  try {
    const { entries, fileSize } = await readDirectory(fh, maxEntries, onTooMany);
    return {
      entries,
      fileSize,
      async dataOffset(entry) {
        const header = await readAt(fh, entry.localHeaderOffset, 30);
        if (header.readUInt32LE(0) !== LOCAL) throw new ZipFormatError(`no local header for '${entry.name}'`);
        return entry.localHeaderOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
      },
      close: () => fh.close(),
    };
  } catch (error) {
    await fh.close();
    throw error;
  }
}

async function readDirectory(
  fh: FileHandle,
  maxEntries: number,
  onTooMany: (count: number) => Error,
): Promise<{ entries: ZipEntry[]; fileSize: number }> {
  const fileSize = (await fh.stat()).size;
  if (fileSize < 22) throw new ZipFormatError("too short to be a zip file");
  const tailLength = Math.min(fileSize, 22 + 65535);
  const tail = await readAt(fh, fileSize - tailLength, tailLength);
  let at = -1;
  for (let i = tailLength - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD) {
      at = i;
      break;
    }
  }
  if (at < 0) throw new ZipFormatError("no end-of-central-directory record (not a zip file?)");
  const eocdOffset = fileSize - tailLength + at;
  if (tail.readUInt16LE(at + 4) !== 0 || tail.readUInt16LE(at + 6) !== 0) {
    throw new ZipFormatError("multi-part (spanned) zip files are not supported");
  }
  let count = tail.readUInt16LE(at + 10);
  let cdSize = tail.readUInt32LE(at + 12);
  let cdOffset = tail.readUInt32LE(at + 16);
  if ((count === 0xffff || cdSize === MAX32 || cdOffset === MAX32) && eocdOffset >= 20) {
    const locator = await readAt(fh, eocdOffset - 20, 20);
    if (locator.readUInt32LE(0) === EOCD64_LOCATOR) {
      const record = await readAt(fh, Number(locator.readBigUInt64LE(8)), 56);
      if (record.readUInt32LE(0) !== EOCD64) throw new ZipFormatError("bad ZIP64 end record");
      count = Number(record.readBigUInt64LE(32));
      cdSize = Number(record.readBigUInt64LE(40));
      cdOffset = Number(record.readBigUInt64LE(48));
    }
  }
  if (count > maxEntries) throw onTooMany(count);
  if (cdOffset + cdSize > fileSize) throw new ZipFormatError("the central directory lies past the end");
  if (cdSize > MAX_CENTRAL_DIRECTORY_BYTES) throw new ZipFormatError("the central directory is too large");
  const cd = await readAt(fh, cdOffset, cdSize);
  const entries: ZipEntry[] = [];
  let p = 0;
  while (entries.length < count) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL) {
      throw new ZipFormatError("the central directory is damaged");
    }
    const versionMadeBy = cd.readUInt16LE(p + 4);
    const flags = cd.readUInt16LE(p + 8);
    const method = cd.readUInt16LE(p + 10);
    const crc32 = cd.readUInt32LE(p + 16);
    let compressedSize = cd.readUInt32LE(p + 20);
    let size = cd.readUInt32LE(p + 24);
    const nameLength = cd.readUInt16LE(p + 28);
    const extraLength = cd.readUInt16LE(p + 30);
    const commentLength = cd.readUInt16LE(p + 32);
    const externalAttrs = cd.readUInt32LE(p + 38);
    let localHeaderOffset = cd.readUInt32LE(p + 42);
    const name = decodeName(cd.subarray(p + 46, p + 46 + nameLength), (flags & 0x800) !== 0);
    let e = p + 46 + nameLength;
    const extraEnd = e + extraLength;
    // Lengths that run past the directory are damage (or a crafted zip): a 400, not a RangeError.
    if (extraEnd + commentLength > cd.length) throw new ZipFormatError("the central directory is damaged");
    while (e + 4 <= extraEnd) {
      const id = cd.readUInt16LE(e);
      const length = cd.readUInt16LE(e + 2);
      // A field cut short at the end is ignored (other readers do the same): only what is whole is read.
      if (e + 4 + length > extraEnd) break;
      if (id === 0x0001) {
        let q = e + 4;
        const u64 = () => {
          if (q + 8 > e + 4 + length) throw new ZipFormatError("a ZIP64 extra field is too short");
          const value = Number(cd.readBigUInt64LE(q));
          q += 8;
          return value;
        };
        if (size === MAX32) size = u64();
        if (compressedSize === MAX32) compressedSize = u64();
        if (localHeaderOffset === MAX32) localHeaderOffset = u64();
      }
      e += 4 + length;
    }
    entries.push({
      name,
      method,
      encrypted: (flags & 1) !== 0,
      crc32,
      compressedSize,
      size,
      localHeaderOffset,
      kind: kindOf(versionMadeBy, externalAttrs, name),
    });
    p = extraEnd + commentLength;
  }
  return { entries, fileSize };
}
