// /openapi.json, Swagger UI at /docs and ReDoc at /redoc. Their assets are carried inside the
// binary (imported as files) and served from here: a LAN box may have no route to a CDN.
import type { OpenAPIHono } from "@hono/zod-openapi";
// @ts-expect-error asset import: a path to the embedded file
import redocJs from "redoc/bundles/redoc.standalone.js" with { type: "file" };
// @ts-expect-error asset import
import swaggerCss from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
// @ts-expect-error asset import
import swaggerBundle from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };

const ASSETS: Record<string, { path: string; type: string }> = {
  "/docs/assets/swagger-ui-bundle.js": { path: swaggerBundle, type: "text/javascript; charset=utf-8" },
  "/docs/assets/swagger-ui.css": { path: swaggerCss, type: "text/css; charset=utf-8" },
  "/redoc/assets/redoc.standalone.js": { path: redocJs, type: "text/javascript; charset=utf-8" },
};

const swaggerPage = (title: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title} - Swagger UI</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", persistAuthorization: true });</script>
</body></html>`;

const redocPage = (title: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title} - ReDoc</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>body{margin:0}</style></head>
<body><redoc spec-url="/openapi.json"></redoc><script src="/redoc/assets/redoc.standalone.js"></script></body></html>`;

export function registerDocRoutes(app: OpenAPIHono, version: string): void {
  const title = "PiXYZ API";
  app.openAPIRegistry.registerComponent("securitySchemes", "ApiKey", {
    type: "apiKey",
    in: "header",
    name: "x-api-key",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title,
      version,
      description:
        "pixyz-scheduler: a drop-in replacement for the Pixyz Scheduler API (jobs, processes, outputs).",
    },
  });
  app.get("/docs", (c) => c.html(swaggerPage(title)));
  // ReDoc's footer loads the Redocly logo from a CDN, whatever its options: a CSP keeps images local
  // (the footer then hides its broken image) so the page makes no request off the machine.
  app.get("/redoc", (c) => {
    c.header("Content-Security-Policy", "img-src 'self' data:");
    return c.html(redocPage(title));
  });
  for (const [route, asset] of Object.entries(ASSETS)) {
    app.get(
      route,
      () =>
        new Response(Bun.file(asset.path), {
          headers: { "Content-Type": asset.type, "Cache-Control": "public, max-age=86400" },
        }),
    );
  }
}
