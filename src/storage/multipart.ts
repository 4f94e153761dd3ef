// Reads a multipart/form-data request as it arrives: each file part goes straight to disk (never
// whole in memory), text fields are kept (small, capped). The request body is read only as fast as
// the disk takes it. Any failure (too large, a bad part, the client going away) removes every file
// this call wrote before it throws.
import { closeSync, createWriteStream, openSync, rmSync, type WriteStream, writeSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import busboy from "busboy";
import { formatBytes } from "../text/bytes.ts";
import { invalidInput, StorageError } from "./errors.ts";
import { fsyncAsync, syncDirAsync } from "./fsync.ts";
import { safeBaseName } from "./safe-path.ts";

/** The most bytes one text field may hold (params and config are JSON texts). */
export const MAX_FIELD_BYTES = 1024 * 1024;
/** Multipart framing and text fields allowed on top of the files' bytes in Content-Length. */
export const FORM_OVERHEAD_BYTES = 8 * MAX_FIELD_BYTES;
/**
 * The body must bring this many bytes per idle timeout. Bun's own idle timeout restarts on every
 * byte, so a client trickling one byte a second would otherwise hold the upload (and its staging
 * folder) for good.
 */
export const IDLE_PROGRESS_BYTES = 16 * 1024;
/**
 * A file part up to this size is held in memory until it ends, then written and fsynced in one
 * go: most submissions are a small script, and a write stream (open, close and a second open to
 * fsync) cost more than the rest of the parse. A bigger part switches to a stream at this size.
 */
export const SMALL_PART_BYTES = 256 * 1024;

export interface ReceivedFile {
  field: string;
  /** The safe base name it was stored under. */
  name: string;
  path: string;
  size: number;
}

export interface ReceivedForm {
  /** Text fields, in arrival order per name. */
  fields: Map<string, string[]>;
  files: Map<string, ReceivedFile>;
  /** Names of file fields that were not asked for (drained, not stored). */
  ignoredFileFields: string[];
}

export interface ReceiveOptions {
  /** Where each accepted file field is stored: field name -> folder. */
  destinations: Record<string, string>;
  /** The most bytes all files together may hold; over it: a "too-large" StorageError. */
  maxFileBytes: number;
  /** Setting name quoted in the too-large message. */
  limitName: string;
  /** Milliseconds the body may take to bring IDLE_PROGRESS_BYTES more (UPLOAD_IDLE_TIMEOUT). */
  idleTimeoutMs: number;
}

/**
 * busboy's parse error as a refusal the client can act on. A body that ends inside a part (the
 * client stopped sending, or Content-Length cut it) fails the part's stream and the parser with
 * "Unexpected end of form": that is the client's doing, a 400, not a server failure.
 */
function formError(error: Error): StorageError {
  if (/unexpected end of (form|file)/i.test(error.message)) {
    return invalidInput(
      "The multipart body ended before the form was complete (a part was cut short): send the whole body, ending with the closing boundary",
    );
  }
  return invalidInput(`The multipart body could not be read: ${error.message}`);
}

interface Writing {
  file: ReceivedFile;
  /** The file's write stream; null while the part is small enough to be held in memory. */
  out: WriteStream | null;
  done: Promise<void>;
  /** Written and fsynced already (a small part): no second fsync at the end. */
  synced: boolean;
}

export async function receiveMultipart(request: Request, options: ReceiveOptions): Promise<ReceivedForm> {
  const form: ReceivedForm = { fields: new Map(), files: new Map(), ignoredFileFields: [] };
  const writing: Writing[] = [];
  let failure = null as Error | null;
  let fileBytes = 0;

  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { "content-type": request.headers.get("content-type") ?? "" },
      defParamCharset: "utf8",
      limits: { fieldSize: MAX_FIELD_BYTES, fields: 32, files: 8, parts: 40 },
    });
  } catch (error) {
    throw invalidInput(`The multipart body could not be read: ${(error as Error).message}`);
  }

  /** Wakes the body loop when it waits for the parser to drain. */
  let wake: (() => void) | null = null;
  const fail = (error: Error) => {
    if (failure) return;
    failure = error;
    for (const w of writing) w.out?.destroy();
    // A destroyed file stream is unpiped and stays paused: the parser would never drain again.
    wake?.();
  };

  parser.on("field", (name, value, info) => {
    if (info.valueTruncated) {
      fail(invalidInput(`The '${name}' field is larger than ${formatBytes(MAX_FIELD_BYTES)}`));
      return;
    }
    const list = form.fields.get(name) ?? [];
    list.push(value);
    form.fields.set(name, list);
  });

  parser.on("file", (field, stream: Readable, info) => {
    const dir = options.destinations[field];
    if (failure || dir === undefined) {
      if (dir === undefined) form.ignoredFileFields.push(field);
      stream.resume();
      return;
    }
    if (form.files.has(field) || writing.some((w) => w.file.field === field)) {
      fail(invalidInput(`Send one '${field}' upload, not several`));
      stream.resume();
      return;
    }
    const name = safeBaseName(info.filename ?? "");
    if (!name) {
      // A browser's empty file input: no name and no bytes. Anything with bytes needs a name.
      let size = 0;
      stream.on("data", (chunk: Buffer) => {
        size += chunk.length;
      });
      stream.on("end", () => {
        if (size > 0) {
          fail(invalidInput(`The '${field}' upload has no usable file name: send it with a file name`));
        }
      });
      stream.resume();
      return;
    }
    const file: ReceivedFile = { field, name, path: join(dir, name), size: 0 };
    const { promise: done, resolve: finished } = Promise.withResolvers<void>();
    const entry: Writing = { file, out: null, done, synced: false };
    writing.push(entry);
    // The part's bytes while it is small; null once it streams to disk (or failed).
    let held: Buffer[] | null = [];
    const openStream = () => {
      const out = createWriteStream(file.path, { flags: "wx", mode: 0o640 });
      out.on("close", finished);
      out.on("error", (error: NodeJS.ErrnoException) => fail(writeError(field, error)));
      return out;
    };
    stream.on("data", (chunk: Buffer) => {
      file.size += chunk.length;
      fileBytes += chunk.length;
      if (fileBytes > options.maxFileBytes) {
        fail(
          new StorageError(
            "too-large",
            `The upload is larger than the limit of ${formatBytes(options.maxFileBytes)} (${options.maxFileBytes} bytes, ${options.limitName})`,
          ),
        );
        held = null;
        if (entry.out) stream.unpipe(entry.out);
        stream.resume();
        return;
      }
      if (held === null || failure) return;
      held.push(chunk);
      if (file.size <= SMALL_PART_BYTES) return;
      // Too big to hold: the rest streams to disk at the pace the disk takes it.
      entry.out = openStream();
      for (const piece of held) entry.out.write(piece);
      held = null;
      stream.pipe(entry.out);
    });
    stream.on("error", (error) => {
      fail(formError(error));
      if (!entry.out) finished();
    });
    stream.on("end", () => {
      if (held !== null && !failure) {
        const content = held.length === 1 ? held[0]! : Buffer.concat(held);
        held = null;
        writeWhole(file.path, content)
          .then(
            () => {
              entry.synced = true;
            },
            (error: NodeJS.ErrnoException) => fail(writeError(field, error)),
          )
          .finally(finished);
      } else {
        held = null;
        if (!entry.out) finished();
      }
      if (!failure) form.files.set(field, file);
    });
  });

  for (const event of ["partsLimit", "filesLimit", "fieldsLimit"] as const) {
    parser.on(event, () => fail(invalidInput(`The form has too many parts (${event.replace("Limit", "")})`)));
  }

  const parsed = new Promise<void>((resolve) => {
    parser.on("close", resolve);
    parser.on("error", (error: Error) => {
      fail(formError(error));
      resolve();
    });
  });

  const body = request.body;
  if (body) {
    const reader = body.getReader();
    // Restarted each time IDLE_PROGRESS_BYTES more arrived; on expiry the pending read is cancelled.
    let progress = 0;
    const idle = setTimeout(() => {
      fail(
        new StorageError(
          "timeout",
          `The upload stalled: less than ${formatBytes(IDLE_PROGRESS_BYTES)} of the body arrived in ${options.idleTimeoutMs / 1000} s (UPLOAD_IDLE_TIMEOUT); send it again`,
        ),
      );
      reader.cancel().catch(() => {});
    }, options.idleTimeoutMs);
    try {
      while (!failure) {
        const { done, value } = await reader.read();
        if (done) break;
        progress += value.length;
        if (progress >= IDLE_PROGRESS_BYTES) {
          progress = 0;
          idle.refresh();
        }
        if (!parser.write(value)) {
          await new Promise<void>((resolve) => {
            const go = () => {
              parser.off("drain", go);
              parser.off("close", go);
              parser.off("error", go);
              wake = null;
              resolve();
            };
            wake = go;
            parser.on("drain", go);
            parser.on("close", go);
            parser.on("error", go);
          });
        }
      }
    } catch (error) {
      fail(invalidInput(`The upload was interrupted: ${(error as Error).message}`));
    } finally {
      clearTimeout(idle);
    }
    if (failure) {
      await reader.cancel().catch(() => {});
      parser.destroy();
    } else {
      parser.end();
      await parsed;
    }
  } else {
    parser.end();
    await parsed;
  }

  await Promise.all(writing.map((w) => w.done));
  if (failure) {
    for (const w of writing) rmSync(w.file.path, { force: true });
    throw failure;
  }
  await Promise.all(writing.filter((w) => !w.synced).map((w) => syncDirAsync(w.file.path)));
  return form;
}

/** A write failure as the client's or the disk's: a full disk is its own refusal (507). */
function writeError(field: string, error: NodeJS.ErrnoException): Error {
  return error.code === "ENOSPC"
    ? new StorageError("no-space", `The disk filled up while the '${field}' upload was written`)
    : error;
}

/** Creates `path` (never over an existing file) with `content`; resolves once it is fsynced. */
async function writeWhole(path: string, content: Uint8Array): Promise<void> {
  const fd = openSync(path, "wx", 0o640);
  try {
    // writeSync may write less than asked (a signal, a full disk's last bytes): write the rest.
    for (let at = 0; at < content.length; ) at += writeSync(fd, content, at);
    await fsyncAsync(fd);
  } finally {
    closeSync(fd);
  }
}
