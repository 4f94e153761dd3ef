// The HTTP side of the metrics: every request counted by method, route pattern and status code,
// and job submissions (POST /jobs) with their declared size. Runs first, so it sees the final
// answer of every request, errors and 401s included.
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { DaemonMetrics } from "./metrics.ts";

/** The label of a request that no route matched (kept as one series, whatever the path). */
export const UNMATCHED_ROUTE = "(unmatched)";

/**
 * The route pattern that answered (e.g. `/jobs/:uuid`), or would have answered when a middleware
 * (auth) answered first: the first route handler at or after the last one that ran. Middleware
 * are registered for every method ("ALL"); no route handler is.
 */
export function routeLabel(c: Context): string {
  const routes = matchedRoutes(c);
  for (let i = Math.max(0, c.req.routeIndex); i < routes.length; i++) {
    const route = routes[i]!;
    if (route.method !== "ALL") return route.path;
  }
  return UNMATCHED_ROUTE;
}

export function httpMetrics(metrics: DaemonMetrics): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const method = c.req.method;
    const route = routeLabel(c);
    const code = String(c.res.status);
    metrics.httpRequests.inc({ method, route, code });
    metrics.httpDuration.observe({ method, route }, (performance.now() - started) / 1000);
    if (method === "POST" && route === "/jobs") {
      const result = c.res.status < 300 ? "accepted" : "refused";
      metrics.uploads.inc({ result });
      const length = Number(c.req.header("content-length") ?? "");
      if (Number.isFinite(length) && length > 0) metrics.uploadBytes.inc({ result }, length);
    }
  };
}
