// GET /backend/get_task_meta/{uuid}: the original's raw Celery task meta, for clients that read it.
// Shape: {status, result, traceback, children, parent_id, task_id, date_done}.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { isTerminal, JobStatus } from "../../jobs/states.ts";
import { API_KEY } from "../auth.ts";
import type { ApiDeps } from "../deps.ts";
import { notFound } from "../errors.ts";
import { errorResponses, UuidParam } from "../schemas.ts";
import { isoTime } from "../views.ts";

const TaskMeta = z
  .object({
    status: z.string(),
    result: z.unknown(),
    traceback: z.string().nullable(),
    children: z.array(z.string()),
    parent_id: z.string().nullable(),
    task_id: z.string(),
    date_done: z.string().nullable(),
  })
  .openapi("TaskMeta");

export function registerBackendRoutes(app: OpenAPIHono, deps: ApiDeps): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/backend/get_task_meta/{uuid}",
      tags: ["backend"],
      summary: "The job as the original's Celery task meta (status, result, traceback, children, ...)",
      security: API_KEY,
      request: { params: UuidParam },
      responses: {
        200: { description: "The task meta", content: { "application/json": { schema: TaskMeta } } },
        ...errorResponses,
      },
    }),
    (c) => {
      const { uuid } = c.req.valid("param");
      const job = deps.store.get(uuid);
      if (!job) throw notFound(`Job '${uuid}' does not exist`);
      return c.json(
        {
          status: job.status,
          result: job.resultJson === null ? null : (JSON.parse(job.resultJson) as unknown),
          traceback: job.status === JobStatus.FAILURE ? job.error : null,
          children: deps.store.childrenOf(uuid).map((child) => child.uuid),
          parent_id: job.parentUuid,
          task_id: job.uuid,
          date_done: isTerminal(job.status) ? isoTime(job.stoppedAt) : null,
        },
        200,
      );
    },
  );
}
