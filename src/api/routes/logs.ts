// GET /jobs/{uuid}/logs: the job's log (stdout and stderr of every attempt, with the scheduler's
// notes), from a byte offset. Plain: the bytes from `offset` to the current end, with the offset to
// ask for next in X-Log-Offset. `follow=true`: Server-Sent Events that tail the file until the job
// is finished, then drain it and end.
import { open, stat } from "node:fs/promises";
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import { isTerminal } from "../../jobs/states.ts";
import type { ApiDeps } from "../deps.ts";
import { ApiError, badRequest, notFound } from "../errors.ts";
import { ErrorEnvelope, errorResponses, UuidParam } from "../schemas.ts";
import { SSE_DEFAULTS, type SseOptions, SseSender } from "./sse.ts";

/** How often a followed log is checked for new bytes. */
const FOLLOW_POLL_MS = 200;
/** The most bytes one `log` event carries. */
const CHUNK_BYTES = 256 * 1024;

const LogQuery = z.object({
  offset: z.coerce.number().int().min(0).optional().openapi({
    description: "Start at this byte of the log (default 0); X-Log-Offset of the previous answer",
  }),
  follow: z.enum(["true", "false", "1", "0"]).optional().openapi({
    description: "true: a Server-Sent Events stream that tails the log until the job is finished",
  }),
});

/** Bytes of the file from `start`, at most `max`; empty when the file does not exist yet. */
async function readRange(path: string, start: number, max: number): Promise<Uint8Array<ArrayBuffer>> {
  const handle = await open(path, "r").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return null;
    throw error;
  });
  if (!handle) return new Uint8Array(0);
  try {
    const buffer = new Uint8Array(max);
    const { bytesRead } = await handle.read(buffer, 0, max, start);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * How many leading bytes of `bytes` end on a whole UTF-8 character, so that a follower never
 * splits one across two events (the rest comes with the next read).
 */
export function wholeUtf8Length(bytes: Uint8Array): number {
  const n = bytes.length;
  // Walk back over at most 3 continuation bytes to the lead byte of the last character.
  for (let back = 1; back <= Math.min(4, n); back++) {
    const byte = bytes[n - back]!;
    if ((byte & 0xc0) === 0x80) continue;
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

const sizeOf = (path: string) =>
  stat(path).then(
    (s) => s.size,
    () => 0,
  );

export function registerLogRoutes(app: OpenAPIHono, deps: ApiDeps, options: SseOptions = SSE_DEFAULTS): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/jobs/{uuid}/logs",
      tags: ["jobs"],
      summary: "The job's log (stdout and stderr of its attempts), from a byte offset, or followed live",
      description:
        "Plain: `text/plain` with the bytes from `offset` to the end, `X-Log-Offset` (the offset to ask for next), " +
        "`X-Log-Size` and `X-Job-Status`. With `follow=true`: Server-Sent Events `log` ({offset, next, text}, " +
        "id = next, so a reconnect with Last-Event-ID resumes) until the job is finished, then `end` ({status, offset}). " +
        "The log is capped per job (JOB_LOG_MAX_BYTES): a job that writes more is stopped with an error.",
      security: [{ ApiKey: [] }],
      request: { params: UuidParam, query: LogQuery },
      responses: {
        200: {
          description: "The log text, or the event stream with follow=true",
          content: {
            "text/plain": { schema: z.string() },
            "text/event-stream": { schema: z.string() },
          },
        },
        ...errorResponses,
        410: {
          description: "The job's files were removed by the cleanup",
          content: { "application/json": { schema: ErrorEnvelope } },
        },
        416: {
          description: "The offset is past the end of the log",
          content: { "application/json": { schema: ErrorEnvelope } },
        },
      },
    }),
    async (c) => {
      const { uuid } = c.req.valid("param");
      const query = c.req.valid("query");
      const job = deps.store.get(uuid);
      if (!job) throw notFound(`Job '${uuid}' does not exist`);
      if (job.filesCleanedAt !== null) {
        throw new ApiError(410, `The files of job '${uuid}' (its log included) were removed by the cleanup`);
      }
      const path = deps.folders.logFile(uuid);
      const follow = query.follow === "true" || query.follow === "1";
      const lastEventId = c.req.header("last-event-id");
      let offset = query.offset ?? 0;
      if (follow && lastEventId !== undefined) {
        if (!/^\d+$/.test(lastEventId))
          throw badRequest(`Last-Event-ID must be a byte offset, got '${lastEventId}'`);
        offset = Number(lastEventId);
      }
      const size = await sizeOf(path);
      if (offset > size) {
        throw new ApiError(416, `The offset ${offset} is past the end of the log (${size} bytes)`, {
          "Content-Range": `bytes */${size}`,
        });
      }

      if (!follow) {
        // The bytes up to the size just read (the log may grow meanwhile), streamed from the file.
        const body = size > offset ? Bun.file(path).slice(offset, size) : new Uint8Array(0);
        return c.body(body, 200, {
          "Content-Type": "text/plain; charset=utf-8",
          "Content-Length": String(size - offset),
          "X-Log-Offset": String(size),
          "X-Log-Size": String(size),
          "X-Job-Status": job.status,
          "Cache-Control": "no-store",
        }) as never;
      }

      return streamSSE(c, async (stream) => {
        const sender = new SseSender(stream, options, deps.stopping);
        let finished: string | null = isTerminal(job.status) ? job.status : null;
        const unsubscribe = deps.bus.subscribe((event) => {
          if (event.job === uuid && event.type === "status" && isTerminal(event.to)) finished = event.to;
        });
        const decoder = new TextDecoder();
        let position = offset;
        /** Sends what the file holds past `position`; `final`: a cut character at the end goes too. */
        const drain = async (final: boolean): Promise<void> => {
          while (sender.open) {
            const bytes = await readRange(path, position, CHUNK_BYTES);
            const whole = final ? bytes.length : wholeUtf8Length(bytes);
            if (whole === 0) return;
            const next = position + whole;
            const text = decoder.decode(bytes.subarray(0, whole), { stream: !final });
            sender.send({
              event: "log",
              id: String(next),
              data: JSON.stringify({ offset: position, next, text }),
            });
            position = next;
            // One chunk in flight at a time: a slow client never makes the daemon hold the whole log.
            await sender.flushed();
          }
        };
        const tail = (async () => {
          while (sender.open) {
            // Read the flag before draining: bytes written before the job ended are then all read.
            const ended = finished;
            await drain(ended !== null);
            if (ended !== null) {
              sender.send({ event: "end", data: JSON.stringify({ status: ended, offset: position }) });
              sender.end();
              break;
            }
            await Bun.sleep(FOLLOW_POLL_MS);
          }
        })();
        try {
          await sender.run();
        } finally {
          unsubscribe();
          sender.end();
          await tail;
        }
      });
    },
  );
}
