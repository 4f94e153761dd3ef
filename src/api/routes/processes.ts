// Pre-registered processes and their docs; public, as in the original.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { entrypointDoc } from "../../scripts/inspect.ts";
import type { ApiDeps } from "../deps.ts";
import { badRequest, notFound } from "../errors.ts";
import { ErrorEnvelope, ProcessDoc, ProcessList } from "../schemas.ts";

export function registerProcessRoutes(app: OpenAPIHono, deps: ApiDeps): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/processes",
      tags: ["processes"],
      summary: "Names of the pre-registered processes",
      responses: {
        200: { description: "The processes", content: { "application/json": { schema: ProcessList } } },
      },
    }),
    (c) => c.json({ processes: deps.registry.names() }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/processes/{name}",
      tags: ["processes"],
      summary: "The documentation of a process (the doc comment of its main)",
      request: {
        params: z.object({
          name: z.string().openapi({ param: { name: "name", in: "path" }, example: "sleep" }),
        }),
      },
      responses: {
        200: { description: "The doc", content: { "application/json": { schema: ProcessDoc } } },
        400: { description: "Unknown process", content: { "application/json": { schema: ErrorEnvelope } } },
        404: {
          description: "The process has no documentation",
          content: { "application/json": { schema: ErrorEnvelope } },
        },
      },
    }),
    (c) => {
      const { name } = c.req.valid("param");
      const process = deps.registry.get(name);
      if (!process) throw badRequest(`Invalid process '${name}'`);
      const doc = entrypointDoc(deps.registry.source(process), "main", process.path);
      if (doc === null) throw notFound(`Process '${name}' has no documentation`);
      return c.json({ doc: `Process '${name}' documentation:\n\n${doc}` }, 200);
    },
  );
}
