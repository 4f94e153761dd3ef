// Reading jobs, as the original: list, state, details, outputs and output downloads. Plus submit.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { resolveInside, UnsafePathError } from "../../storage/safe-path.ts";
import type { ApiDeps } from "../deps.ts";
import { ApiError, badRequest, notFound } from "../errors.ts";
import {
  errorResponses,
  JobDetails,
  JobList,
  JobState,
  OutputList,
  SubmitAnswer,
  SubmitForm,
  UUID_V4,
  UuidParam,
} from "../schemas.ts";
import { jobDetails, jobState } from "../views.ts";
import { submitJob } from "./submit.ts";

const security = [{ ApiKey: [] }];
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

const JobListQuery = z.object({
  status: z.string().optional().openapi({ description: "Only jobs in this status, e.g. PENDING" }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(10000)
    .default(1000)
    .openapi({ description: "At most this many, newest first" }),
});

function requireJob(deps: ApiDeps, uuid: string) {
  const job = deps.store.get(uuid);
  if (!job) throw notFound(`Job '${uuid}' does not exist`);
  return job;
}

export function registerJobRoutes(app: OpenAPIHono, deps: ApiDeps): void {
  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/jobs",
    tags: ["jobs"],
    summary: "Submit a job (a custom script or a pre-registered process)",
    security,
    request: { body: { content: { "multipart/form-data": { schema: SubmitForm } } } },
    responses: { 200: json(SubmitAnswer, "Accepted: the job and its files are stored"), ...errorResponses },
  });
  app.post("/jobs", (c) => submitJob(c, deps));

  app.openapi(
    createRoute({
      method: "get",
      path: "/jobs",
      tags: ["jobs"],
      summary: "List jobs, newest first",
      security,
      request: { query: JobListQuery },
      responses: { 200: json(JobList, "The jobs"), ...errorResponses },
    }),
    (c) => {
      const { status, limit } = c.req.valid("query");
      return c.json({ jobs: deps.store.list({ status, limit }).map(jobState) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/jobs/{uuid}",
      tags: ["jobs"],
      summary: "The state of a job",
      security,
      request: { params: UuidParam },
      responses: { 200: json(JobState, "The job's state"), ...errorResponses },
    }),
    (c) => c.json(jobState(requireJob(deps, c.req.valid("param").uuid)), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/jobs/{uuid}/details",
      tags: ["jobs"],
      summary: "The state of a job with times, steps, retries, result and attempts",
      security,
      request: { params: UuidParam },
      responses: { 200: json(JobDetails, "The job's details"), ...errorResponses },
    }),
    (c) => {
      const job = requireJob(deps, c.req.valid("param").uuid);
      return c.json(jobDetails(job, deps.store.attemptsOf(job.id)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/jobs/{uuid}/outputs",
      tags: ["jobs"],
      summary: "The files the job wrote, as paths relative to its outputs folder",
      security,
      request: { params: UuidParam },
      responses: { 200: json(OutputList, "The output files"), ...errorResponses },
    }),
    (c) => {
      const job = requireJob(deps, c.req.valid("param").uuid);
      return c.json({ outputs: deps.folders.listOutputs(job.uuid) }, 200);
    },
  );

  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/jobs/{uuid}/outputs/{path}",
    tags: ["jobs"],
    summary: "Download one output file (the path may contain '/')",
    security,
    request: {
      params: UuidParam.extend({ path: z.string().openapi({ param: { name: "path", in: "path" } }) }),
    },
    responses: {
      200: {
        description: "The file",
        content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } },
      },
      ...errorResponses,
    },
  });
  app.get("/jobs/:uuid/outputs/:path{.+}", async (c) => {
    const uuid = c.req.param("uuid");
    if (!UUID_V4.test(uuid)) throw badRequest(`uuid: must be a job UUID (v4, lowercase), got '${uuid}'`);
    const job = requireJob(deps, uuid);
    const relative = c.req.param("path");
    let path: string;
    try {
      path = resolveInside(deps.folders.outputsDir(job.uuid), relative);
    } catch (error) {
      if (error instanceof UnsafePathError) throw badRequest(error.message);
      throw error;
    }
    const file = Bun.file(path);
    const stat = await file.stat().catch(() => null);
    if (!stat?.isFile()) throw new ApiError(404, `File 'outputs/${relative}' not found`);
    const fileName = relative.split("/").pop()!;
    return new Response(file, {
      headers: {
        "Content-Type": "application/octet-stream",
        "Content-Length": String(stat.size),
        "Content-Disposition": `attachment; filename="${fileName.replace(/["\\\r\n]/g, "_")}"; filename*=UTF-8''${encodeURIComponent(fileName)}`,
      },
    });
  });
}
