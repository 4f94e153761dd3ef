// GET /metrics: Prometheus text format, public as in the original (scrapers rarely send tokens;
// nothing in it names a job or a file).
import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import { httpMetrics } from "../../metrics/http.ts";
import { DaemonMetrics } from "../../metrics/metrics.ts";
import type { ApiDeps } from "../deps.ts";

/** Creates the daemon's metrics, counts every request from here on, and serves GET /metrics. */
export function registerMetrics(app: OpenAPIHono, deps: ApiDeps): DaemonMetrics {
  const metrics = new DaemonMetrics({
    version: deps.version,
    bus: deps.bus,
    jobCounts: () => deps.jobCounts(),
    slots: () => deps.scheduler.slots,
    isBusy: (slotId) => deps.scheduler.runningOn(slotId) !== null,
    requestedAt: (uuid) => deps.store.get(uuid)?.requestedAt ?? null,
    disk: () => deps.disk(),
    federation: deps.federation ? () => deps.federation!.stats() : undefined,
  });
  app.use("*", httpMetrics(metrics));

  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/metrics",
    tags: ["operations"],
    summary: "Prometheus metrics (text format 0.0.4); no token needed",
    description:
      "Jobs by queue and status, wait and run time histograms, slots and busy slots per queue, retries and " +
      "escalations, submissions and their bytes, HTTP requests by route pattern and code. See docs/api.md.",
    responses: {
      200: {
        description: "The metrics",
        content: {
          "text/plain": {
            schema: z.string().openapi({ example: 'pixyz_jobs{queue="cpu",status="SUCCESS"} 12' }),
          },
        },
      },
    },
  });
  app.get("/metrics", async (c) => {
    const text = await metrics.text();
    return c.body(text, 200, { "Content-Type": metrics.contentType, "Cache-Control": "no-store" });
  });
  return metrics;
}
