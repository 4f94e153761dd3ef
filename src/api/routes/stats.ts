// GET /stats: the last hour minute by minute (jobs submitted, started, finished; waits), from the
// daemon's own counters (metrics/minute-ring.ts, fed by the event bus), with the disk and the
// memory now. The dashboard's numbers page draws it.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { memoryState } from "../../metrics/memory.ts";
import { MinuteRing } from "../../metrics/minute-ring.ts";
import { API_KEY } from "../auth.ts";
import type { ApiDeps } from "../deps.ts";
import { errorResponses } from "../schemas.ts";
import { isoTime } from "../views.ts";

const Minute = z
  .object({
    at: z.string().openapi({ description: "The minute's start" }),
    submitted: z.number().int(),
    started: z.number().int(),
    succeeded: z.number().int(),
    failed: z.number().int(),
    revoked: z.number().int(),
    retried: z.number().int(),
    wait_avg_s: z.number().nullable().openapi({ description: "Mean wait of the jobs that started in it" }),
    wait_max_s: z.number().nullable(),
  })
  .openapi("StatsMinute");

const StatsAnswer = z.object({
  minutes: z
    .array(Minute)
    .openapi({ description: "The last 60 minutes, oldest first; since the daemon started" }),
  running: z.number().int(),
  disk: z.object({
    status: z.enum(["ok", "low", "full"]),
    freeBytes: z.number(),
    totalBytes: z.number(),
    minFreeBytes: z.number(),
  }),
  memory: z.object({ totalBytes: z.number(), availableBytes: z.number(), daemonRssBytes: z.number() }),
});

const seconds = (ms: number) => Math.round(ms) / 1000;

export function registerStatsRoute(app: OpenAPIHono, deps: ApiDeps): MinuteRing {
  const ring = new MinuteRing(deps.bus, (uuid) => deps.store.get(uuid)?.requestedAt ?? null);
  app.openapi(
    createRoute({
      method: "get",
      path: "/stats",
      tags: ["operations"],
      summary: "The last hour minute by minute (throughput, waits), the disk and the memory",
      security: API_KEY,
      responses: {
        200: { description: "The numbers", content: { "application/json": { schema: StatsAnswer } } },
        401: errorResponses[401],
      },
    }),
    (c) => {
      const { freeBytes, totalBytes, floorBytes, low, full } = deps.disk();
      return c.json(
        {
          minutes: ring.minutes().map((m) => ({
            at: isoTime(m.at)!,
            submitted: m.submitted,
            started: m.started,
            succeeded: m.succeeded,
            failed: m.failed,
            revoked: m.revoked,
            retried: m.retried,
            wait_avg_s: m.waits > 0 ? seconds(m.waitSumMs / m.waits) : null,
            wait_max_s: m.waits > 0 ? seconds(m.waitMaxMs) : null,
          })),
          running: deps.scheduler.runningCount,
          disk: {
            status: full ? ("full" as const) : low ? ("low" as const) : ("ok" as const),
            freeBytes,
            totalBytes,
            minFreeBytes: floorBytes,
          },
          memory: memoryState(),
        },
        200,
      );
    },
  );
  return ring;
}
