// File downloads: Content-Type from the name, Content-Disposition with the name, Content-Length
// (the original client's progress bar divides by it), and single HTTP ranges for resumable
// downloads of large outputs (with If-Range against the ETag or Last-Modified).
import { closeSync, createReadStream, type Stats } from "node:fs";
import { Readable } from "node:stream";
import { ApiError } from "./errors.ts";

/**
 * What to send: a file by its path, or by a descriptor already opened and checked. A path is sent
 * with sendfile and a Content-Length; a descriptor is streamed and closed once sent, without a
 * Content-Length (the file may still change size, and Bun 1.4 drops one on a streamed body).
 */
export type FileSource = { path: string; info: Stats } | { fd: number; info: Stats };

/** `attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / 5987). */
export function contentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\]/g, "_");
  const encoded = encodeURIComponent(fileName).replace(
    /['()*]/g,
    (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

type Range = { start: number; end: number } | "unsatisfiable" | null;

/** One `bytes=` range of a file of `size` bytes; null: serve the whole file (absent, malformed, several). */
export function parseRange(header: string | null, size: number): Range {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return null;
  const [, first, last] = match;
  if (first === "" && last === "") return null;
  if (first === "") {
    const suffix = Number(last);
    // An empty file has no last bytes to give (RFC 9110 14.1.2): `bytes=-5` would read 0 to -1.
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== "" && Number(last) < start) return null;
  if (start >= size) return "unsatisfiable";
  return { start, end };
}

export function fileResponse(request: Request, source: FileSource, fileName: string): Response {
  const stat = source.info;
  const size = stat.size;
  const etag = `"${stat.ino.toString(36)}-${size.toString(36)}-${Math.trunc(stat.mtimeMs).toString(36)}"`;
  const lastModified = new Date(stat.mtimeMs).toUTCString();
  const headers: Record<string, string> = {
    // By the name alone: no file is opened for it.
    "Content-Type": Bun.file(fileName).type || "application/octet-stream",
    "Content-Disposition": contentDisposition(fileName),
    "Accept-Ranges": "bytes",
    ETag: etag,
    "Last-Modified": lastModified,
    "X-Content-Type-Options": "nosniff",
  };
  const ifRange = request.headers.get("if-range");
  const rangeApplies = ifRange === null || ifRange === etag || ifRange === lastModified;
  const range = rangeApplies ? parseRange(request.headers.get("range"), size) : null;
  if (range === "unsatisfiable") {
    if ("fd" in source) closeSync(source.fd);
    throw new ApiError(
      416,
      `The range '${request.headers.get("range")}' is outside the file (${size} bytes)`,
      {
        "Content-Range": `bytes */${size}`,
      },
    );
  }
  // A length only for a file sent by path: a streamed one may still change size (its job runs).
  const length = (bytes: number) => ("path" in source ? { "Content-Length": String(bytes) } : {});
  if (range) {
    return new Response(bodyOf(request, source, range.start, range.end), {
      status: 206,
      headers: {
        ...headers,
        "Content-Range": `bytes ${range.start}-${range.end}/${size}`,
        ...length(range.end - range.start + 1),
      },
    });
  }
  return new Response(bodyOf(request, source, 0, size - 1), { headers: { ...headers, ...length(size) } });
}

/**
 * Bytes `start` to `end` of the source. A descriptor streams and closes at the end or when the
 * client goes away, or closes now when nothing will read it (a HEAD, an empty file).
 */
function bodyOf(request: Request, source: FileSource, start: number, end: number) {
  if ("path" in source) {
    // Bun answers a HEAD from this body without reading it, with its Content-Length.
    const file = Bun.file(source.path);
    return start === 0 && end === source.info.size - 1 ? file : file.slice(start, end + 1);
  }
  if (request.method === "HEAD" || end < start) {
    closeSync(source.fd);
    return null;
  }
  const stream = createReadStream("", { fd: source.fd, start, end, autoClose: true });
  return Readable.toWeb(stream) as unknown as ReadableStream<Uint8Array>;
}
