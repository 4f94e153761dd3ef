// The HTTP API: the original's routes and shapes on Hono, every route described for OpenAPI.
import { OpenAPIHono } from "@hono/zod-openapi";
import { cors } from "hono/cors";
import { apiKeyWhereDeclared } from "./auth.ts";
import type { ApiDeps } from "./deps.ts";
import { badRequest, clientError, envelope, errorResponse } from "./errors.ts";
import { registerBackendRoutes } from "./routes/backend.ts";
import { registerControlRoutes } from "./routes/control.ts";
import { registerDocRoutes } from "./routes/docs.ts";
import { registerEventRoutes } from "./routes/events.ts";
import { registerJobRoutes } from "./routes/jobs.ts";
import { registerLogRoutes } from "./routes/logs.ts";
import { registerMetrics } from "./routes/metrics.ts";
import { registerPeerRoutes } from "./routes/peers.ts";
import { registerProcessRoutes } from "./routes/processes.ts";
import { registerDashboard } from "./routes/ui.ts";
import { Sessions } from "./sessions.ts";

export function createApp(deps: ApiDeps): OpenAPIHono {
  const app = new OpenAPIHono({
    // /processes and /processes/ are the same route, as the original's clients use both.
    strict: false,
    // Validation failures answer 400 in the original's envelope (FastAPI's 422 never reached clients).
    defaultHook: (result) => {
      if (!result.success) {
        const issues = result.error.issues
          .map((i) => `${i.path.join(".") || "request"}: ${i.message}`)
          .join("; ");
        throw badRequest(issues);
      }
    },
  });

  app.onError((error, c) => {
    const known = clientError(error);
    if (known) return errorResponse(c, known);
    deps.logger.error("unhandled error in a request", {
      method: c.req.method,
      path: c.req.path,
      error: String(error),
    });
    return c.json(envelope(500, "The server failed to handle this request; see its log"), 500);
  });
  app.notFound((c) => c.json(envelope(404, `No route ${c.req.method} ${c.req.path}`), 404));
  // First, so that every request below is counted (GET /metrics is public, as in the original).
  registerMetrics(app, deps);
  // HEAD runs the GET route and Hono sends its headers only, without cancelling the body: an SSE
  // route (/events, a followed log) would keep its bus subscription and timers for good.
  app.use("*", async (c, next) => {
    await next();
    if (c.req.method === "HEAD") c.res.body?.cancel().catch(() => {});
  });

  // Off unless CORS_ORIGINS names origins: the original's "*" with credentials let any page on
  // the LAN drive the API from a user's browser.
  if (deps.corsOrigins && deps.corsOrigins.length > 0) {
    const origins = deps.corsOrigins;
    app.use(
      "*",
      cors({
        origin: origins.includes("*") ? "*" : origins,
        // Hono's default also lists PUT and PATCH, which no route serves.
        allowMethods: ["GET", "HEAD", "POST", "DELETE", "OPTIONS"],
        allowHeaders: ["x-api-key", "content-type", "range"],
        exposeHeaders: [
          "content-disposition",
          "content-length",
          "retry-after",
          "x-log-offset",
          "x-log-size",
          "x-job-status",
        ],
        maxAge: 600,
      }),
    );
  }

  // A browser (it asks for HTML) is sent to the dashboard; API clients keep the original's answer.
  app.get("/", (c) =>
    /\btext\/html\b/.test(c.req.header("accept") ?? "")
      ? c.redirect("/ui", 302)
      : c.text(`Welcome to PiXYZ API v${deps.version}!`),
  );
  app.get("/health", (c) => {
    // Degraded, not down: reads and running jobs go on while the data disk is low or full.
    const { freeBytes, totalBytes, floorBytes, low, full } = deps.disk();
    const disk = full ? "full" : low ? "low" : "ok";
    return c.json({
      status: disk === "ok" ? "ok" : "degraded",
      version: deps.version,
      running: deps.scheduler.runningCount,
      disk: { status: disk, freeBytes, totalBytes, minFreeBytes: floorBytes },
    });
  });

  // The dashboard's sessions: its cookie opens the same routes as the token (api/auth.ts).
  const sessions = new Sessions();
  app.use("*", apiKeyWhereDeclared(app.openAPIRegistry, deps.tokenSha256, sessions));
  // Before the job routes: /jobs/search must not be taken for /jobs/{uuid}.
  registerDashboard(app, deps, sessions);

  registerProcessRoutes(app, deps);
  registerJobRoutes(app, deps);
  registerControlRoutes(app, deps);
  registerBackendRoutes(app, deps);
  registerEventRoutes(app, deps);
  registerLogRoutes(app, deps);
  registerPeerRoutes(app, deps);
  registerDocRoutes(app, deps.version);
  return app;
}
