// GET /jobs/search: the dashboard's jobs list. Filters (status, queue, process, name, node, time),
// pages keyed on the submission order (`before` = the previous page's `next`), and the count of
// jobs per status. The query is store/job-query.ts. Registered before /jobs/{uuid}, which would
// otherwise take "search" for a malformed uuid.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { errorHeadline } from "../../jobs/error-headline.ts";
import { JobStatus } from "../../jobs/states.ts";
import { API_KEY } from "../auth.ts";
import type { ApiDeps } from "../deps.ts";
import { badRequest } from "../errors.ts";
import { errorResponses } from "../schemas.ts";
import { isoTime } from "../views.ts";

const STATUSES = Object.values(JobStatus) as string[];

const time = (description: string) =>
  z.string().max(64).optional().openapi({ description, example: "2025-01-31T08:00:00Z" });

const SearchQuery = z.object({
  status: z
    .string()
    .max(200)
    .optional()
    .openapi({ description: "One status or several, comma-separated, e.g. FAILURE,REVOKED" }),
  queue: z.string().max(64).optional(),
  process: z.string().max(64).optional().openapi({ description: "custom, or a process name" }),
  name: z
    .string()
    .max(200)
    .optional()
    .openapi({ description: "Part of the job's name (case-insensitive), or the start of its uuid" }),
  node: z
    .string()
    .max(200)
    .optional()
    .openapi({ description: "A node id: jobs one of whose attempts ran there (or waiting there)" }),
  since: time("Submitted at or after this time (ISO 8601)"),
  until: time("Submitted before this time (ISO 8601)"),
  before: z.coerce
    .number()
    .int()
    .min(1)
    .optional()
    .openapi({ description: "The `next` of the previous page: only jobs submitted before that one" }),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

export const JobListItem = z
  .object({
    uuid: z.string(),
    name: z.string().nullable(),
    status: z.string(),
    progress: z.number().int().nullable(),
    error: z.string().nullable().openapi({ description: "The error's headline" }),
    queue: z.string(),
    process: z.string(),
    retry: z.number().int(),
    parent: z.string().nullable(),
    requested: z.string(),
    started: z.string().nullable(),
    stopped: z.string().nullable(),
    node: z
      .string()
      .nullable()
      .openapi({ description: "The node of its last attempt (or that accepted it)" }),
    slot: z.string().nullable().openapi({ description: "The slot of its last attempt" }),
    step: z.string().nullable().openapi({ description: "The current (last) step's text" }),
  })
  .openapi("JobListItem");

const SearchAnswer = z.object({
  jobs: z.array(JobListItem),
  next: z
    .number()
    .int()
    .nullable()
    .openapi({ description: "`before` for the next (older) page; null on the last" }),
  counts: z
    .record(z.string(), z.number().int())
    .openapi({ description: "Jobs per status in the whole store" }),
});

function parseTime(value: string | undefined, field: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms))
    throw badRequest(`${field}: must be a date and time in ISO 8601, e.g. 2025-01-31T08:00:00Z`);
  return ms;
}

export function registerJobSearch(app: OpenAPIHono, deps: ApiDeps): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/jobs/search",
      tags: ["jobs"],
      summary: "Jobs with filters, a page at a time, newest first, and the count per status",
      security: API_KEY,
      request: { query: SearchQuery },
      responses: {
        200: { description: "One page of jobs", content: { "application/json": { schema: SearchAnswer } } },
        ...errorResponses,
      },
    }),
    (c) => {
      const q = c.req.valid("query");
      const status = q.status
        ? q.status
            .split(",")
            .map((s) => s.trim().toUpperCase())
            .filter((s) => s !== "")
        : [];
      const unknown = status.filter((s) => !STATUSES.includes(s));
      if (unknown.length > 0) {
        throw badRequest(`status: unknown status ${unknown.join(", ")}; use ${STATUSES.join(", ")}`);
      }
      const page = deps.jobQuery.page({
        status: status as JobStatus[],
        queue: q.queue || undefined,
        process: q.process || undefined,
        name: q.name || undefined,
        node: q.node || undefined,
        since: parseTime(q.since, "since"),
        until: parseTime(q.until, "until"),
        before: q.before,
        limit: q.limit,
      });
      return c.json(
        {
          jobs: page.jobs.map((j) => ({
            uuid: j.uuid,
            name: j.name,
            status: j.status,
            progress: j.progress,
            error: errorHeadline(j.error),
            queue: j.queue,
            process: j.process,
            retry: j.retry,
            parent: j.parentUuid,
            requested: isoTime(j.requestedAt)!,
            started: isoTime(j.startedAt),
            stopped: isoTime(j.stoppedAt),
            node: j.node,
            slot: j.slot,
            step: j.step,
          })),
          next: page.next,
          counts: deps.jobQuery.statusCounts(),
        },
        200,
      );
    },
  );
}
