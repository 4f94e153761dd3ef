// GET /jobs/{uuid}/logs: the job's log (stdout and stderr of every attempt, with the scheduler's
// notes), from a byte offset. Plain: the bytes from `offset` to the current end, with the offset to
// ask for next in X-Log-Offset. `follow=true`: Server-Sent Events that tail the file until the job
// is finished, then drain it and end.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import { isTerminal } from "../../jobs/states.ts";
import { followLog, logSize } from "../../storage/job-log.ts";
import { API_KEY } from "../auth.ts";
import type { ApiDeps } from "../deps.ts";
import { ApiError, badRequest, notFound } from "../errors.ts";
import { ErrorEnvelope, errorResponses, UuidParam } from "../schemas.ts";
import { SSE_DEFAULTS, type SseOptions, SseSender } from "./sse.ts";

const LogQuery = z.object({
  offset: z.coerce.number().int().min(0).optional().openapi({
    description: "Start at this byte of the log (default 0); X-Log-Offset of the previous answer",
  }),
  follow: z.enum(["true", "false", "1", "0"]).optional().openapi({
    description: "true: a Server-Sent Events stream that tails the log until the job is finished",
  }),
});

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
      security: API_KEY,
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
      const size = await logSize(path);
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
        const tail = (async () => {
          const log = followLog(
            path,
            offset,
            () => finished,
            () => sender.open,
          );
          while (sender.open) {
            const step = await log.next();
            if (step.done) {
              if (step.value) sender.send({ event: "end", data: JSON.stringify(step.value) });
              sender.end();
              break;
            }
            const chunk = step.value;
            sender.send({ event: "log", id: String(chunk.next), data: JSON.stringify(chunk) });
            // One chunk in flight at a time: a slow client never makes the daemon hold the whole log.
            await sender.flushed();
          }
          await log.return(null);
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
