// The POST /jobs body, streamed from the files on disk with a known Content-Length, so an upload
// of any size never sits in memory and its bytes can be shown as they go.
import { randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { basename } from "node:path";

export interface FilePart {
  field: string;
  path: string;
  type: string;
}

export interface MultipartBody {
  body: ReadableStream<Uint8Array>;
  length: number;
  contentType: string;
  fileBytes: number;
}

const encoder = new TextEncoder();

/** A header-safe quoted value (the HTML form encoding: quotes and line breaks percent-encoded). */
function quoted(value: string): string {
  return value.replace(/"/g, "%22").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

export function multipartBody(
  fields: [string, string][],
  files: FilePart[],
  onBytes: (fileBytes: number) => void,
): MultipartBody {
  const boundary = `----pixyz-scheduler-${randomBytes(12).toString("hex")}`;
  type Piece = { bytes: Uint8Array } | { file: FilePart; size: number };
  const pieces: Piece[] = [];
  for (const [name, value] of fields) {
    pieces.push({
      bytes: encoder.encode(
        `--${boundary}\r\nContent-Disposition: form-data; name="${quoted(name)}"\r\n\r\n${value}\r\n`,
      ),
    });
  }
  let fileBytes = 0;
  for (const file of files) {
    const size = statSync(file.path).size;
    fileBytes += size;
    pieces.push({
      bytes: encoder.encode(
        `--${boundary}\r\nContent-Disposition: form-data; name="${quoted(file.field)}"; filename="${quoted(basename(file.path))}"\r\nContent-Type: ${file.type}\r\n\r\n`,
      ),
    });
    pieces.push({ file, size });
    pieces.push({ bytes: encoder.encode("\r\n") });
  }
  pieces.push({ bytes: encoder.encode(`--${boundary}--\r\n`) });
  const length = pieces.reduce((n, p) => n + ("bytes" in p ? p.bytes.length : p.size), 0);

  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (const piece of pieces) {
      if ("bytes" in piece) {
        yield piece.bytes;
        continue;
      }
      let sent = 0;
      for await (const chunk of Bun.file(piece.file.path).stream()) {
        sent += chunk.length;
        if (sent > piece.size) throw new Error(`${piece.file.path} grew while it was being uploaded`);
        onBytes(chunk.length);
        yield chunk;
      }
      if (sent !== piece.size) throw new Error(`${piece.file.path} shrank while it was being uploaded`);
    }
  }
  const iterator = chunks();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await iterator.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel() {
      await iterator.return(undefined);
    },
  });
  return { body, length, contentType: `multipart/form-data; boundary=${boundary}`, fileBytes };
}
