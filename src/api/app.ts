// The HTTP API: the original's routes and shapes on Hono, every route described for OpenAPI.
import { OpenAPIHono } from "@hono/zod-openapi";
import { requireApiKey } from "./auth.ts";
import type { ApiDeps } from "./deps.ts";
import { ApiError, badRequest, envelope, errorResponse } from "./errors.ts";
import { registerDocRoutes } from "./routes/docs.ts";
import { registerJobRoutes } from "./routes/jobs.ts";
import { registerProcessRoutes } from "./routes/processes.ts";

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
    if (error instanceof ApiError) return errorResponse(c, error);
    deps.logger.error("unhandled error in a request", {
      method: c.req.method,
      path: c.req.path,
      error: String(error),
    });
    return c.json(envelope(500, "The server failed to handle this request; see its log"), 500);
  });
  app.notFound((c) => c.json(envelope(404, `No route ${c.req.method} ${c.req.path}`), 404));

  app.get("/", (c) => c.text(`Welcome to PiXYZ API v${deps.version}!`));
  app.get("/health", (c) =>
    c.json({ status: "ok", version: deps.version, running: deps.scheduler.runningCount }),
  );

  const auth = requireApiKey(deps.tokenSha256);
  app.use("/jobs", auth);
  app.use("/jobs/*", auth);

  registerProcessRoutes(app, deps);
  registerJobRoutes(app, deps);
  registerDocRoutes(app, deps.version);
  return app;
}
