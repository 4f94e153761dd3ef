// GET /events: live job events as Server-Sent Events, from the in-process event bus. Status
// changes come after they are committed, in commit order; progress at most every 100 ms per job.
// `?job=<uuid>` narrows the stream to one job: it starts with that job's current state and ends
// after the job's final status, so `curl -N` and the CLI's watch simply read to the end.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import type { JobEvent } from "../../events/bus.ts";
import { errorHeadline } from "../../jobs/error-headline.ts";
import { isTerminal } from "../../jobs/states.ts";
import type { JobRow } from "../../store/schema.ts";
import { API_KEY } from "../auth.ts";
import type { ApiDeps } from "../deps.ts";
import { notFound } from "../errors.ts";
import { errorResponses, UUID_V4 } from "../schemas.ts";
import { isoTime } from "../views.ts";
import { SSE_DEFAULTS, type SseOptions, SseSender } from "./sse.ts";

type Step = { duration: number; info: string };

const lastStep = (steps: Step[] | null): string | null => steps?.at(-1)?.info ?? null;

export function statusData(event: Extract<JobEvent, { type: "status" }>) {
  return {
    job: event.job,
    from: event.from,
    to: event.to,
    queue: event.queue,
    attempt_id: event.attempt,
    detail: event.detail,
    at: isoTime(event.at),
  };
}

function progressData(event: Extract<JobEvent, { type: "progress" }>) {
  return {
    job: event.job,
    progress: event.progress,
    step: lastStep(event.steps),
    steps: event.steps,
    at: isoTime(event.at),
  };
}

function stateData(job: JobRow) {
  const steps = job.stepsJson === null ? null : (JSON.parse(job.stepsJson) as Step[]);
  return {
    job: job.uuid,
    status: job.status,
    progress: job.progress,
    queue: job.queue,
    step: lastStep(steps),
    error: errorHeadline(job.error),
    at: isoTime(Date.now()),
  };
}

const EventsQuery = z.object({
  job: z
    .string()
    .regex(UUID_V4, "must be a job UUID (v4, lowercase)")
    .optional()
    .openapi({ description: "Only this job's events; the stream ends after its final status" }),
});

export function registerEventRoutes(
  app: OpenAPIHono,
  deps: ApiDeps,
  options: SseOptions = SSE_DEFAULTS,
): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/events",
      tags: ["jobs"],
      summary: "Live job events (Server-Sent Events): status changes, progress and steps",
      description:
        "Events: `ready` (subscribed), `state` (with `?job=`: the job's state when the stream opened), " +
        "`status` ({job, from, to, queue, attempt_id, detail, at}), `progress` ({job, progress, step, steps, at}), " +
        "`end` (with `?job=`: the job is finished; the stream closes). A `: keepalive` comment is sent every 15 s " +
        "of silence. Events are live only: there is no replay on reconnect; read the job's details for its state.",
      security: API_KEY,
      request: { query: EventsQuery },
      responses: {
        200: {
          description: "The event stream",
          content: { "text/event-stream": { schema: z.string() } },
        },
        ...errorResponses,
      },
    }),
    (c) => {
      const { job } = c.req.valid("query");
      if (job !== undefined && !deps.store.get(job)) throw notFound(`Job '${job}' does not exist`);
      return streamSSE(c, async (stream) => {
        const sender = new SseSender(stream, options, deps.stopping);
        // Subscribed before the snapshot is read: nothing that happens in between is missed (it
        // may be seen twice: once in the state, once as an event).
        const unsubscribe = deps.bus.subscribe((event) => {
          if (job !== undefined && event.job !== job) return;
          if (event.type === "status") {
            sender.send({ event: "status", data: JSON.stringify(statusData(event)) });
            if (job !== undefined && isTerminal(event.to)) {
              sender.send({ event: "end", data: JSON.stringify({ job, status: event.to }) });
              sender.end();
            }
          } else {
            sender.send({ event: "progress", data: JSON.stringify(progressData(event)) });
          }
        });
        try {
          sender.send({ event: "ready", data: JSON.stringify({ job: job ?? null }), retry: 3000 });
          if (job !== undefined) {
            const row = deps.store.get(job);
            if (row) sender.send({ event: "state", data: JSON.stringify(stateData(row)) });
            if (!row || isTerminal(row.status)) {
              sender.send({ event: "end", data: JSON.stringify({ job, status: row?.status ?? null }) });
              sender.end();
            }
          }
          await sender.run();
        } finally {
          unsubscribe();
        }
      });
    },
  );
}
