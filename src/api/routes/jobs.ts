// Reading jobs, as the original: list, state, details, outputs and output downloads. Plus submit.
import { closeSync } from "node:fs";
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { isTerminal, JobStatus } from "../../jobs/states.ts";
import { NotOwnFileError, openOwnFile, resolveInside, UnsafePathError } from "../../storage/safe-path.ts";
import type { JobRow } from "../../store/schema.ts";
import { API_KEY } from "../auth.ts";
import type { ApiDeps } from "../deps.ts";
import { fileResponse } from "../download.ts";
import { ApiError, badRequest, clientError, notFound } from "../errors.ts";
import {
  ErrorEnvelope,
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

const security = API_KEY;
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

const JobListQuery = z.object({
  status: z
    .enum(Object.values(JobStatus) as [JobStatus, ...JobStatus[]])
    .optional()
    .openapi({ description: "Only jobs in this status, e.g. PENDING" }),
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

/** 410 once the cleanup removed the job's folder (the row stays). */
function requireFiles(job: JobRow): void {
  if (job.filesCleanedAt !== null) {
    throw new ApiError(
      410,
      `The files of job '${job.uuid}' were removed by the cleanup on ${new Date(job.filesCleanedAt).toISOString()}`,
    );
  }
}

const fileContent = (description: string, type: string) => ({
  description,
  content: { [type]: { schema: z.string().openapi({ format: "binary" }) } },
});
const envelopeOf = (description: string) => ({
  description,
  content: { "application/json": { schema: ErrorEnvelope } },
});

export function registerJobRoutes(app: OpenAPIHono, deps: ApiDeps): void {
  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/jobs",
    tags: ["jobs"],
    summary: "Submit a job (a custom script or a pre-registered process)",
    security,
    request: { body: { content: { "multipart/form-data": { schema: SubmitForm } } } },
    responses: {
      200: json(SubmitAnswer, "Accepted: the job and its files are stored"),
      ...errorResponses,
      413: envelopeOf("The files are larger than MAX_UPLOAD_SIZE"),
      507: envelopeOf("The upload would leave less free disk than MIN_FREE_DISK"),
    },
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
      return c.json(jobDetails(job, deps.store.attemptsOf(job.id), deps.store.childrenOf(job.uuid)), 200);
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
      requireFiles(job);
      return c.json({ outputs: deps.folders.listOutputs(job.uuid) }, 200);
    },
  );

  // Declared before /outputs/{path}: this route wins for "archive" (as in the original).
  app.openapi(
    createRoute({
      method: "get",
      path: "/jobs/{uuid}/outputs/archive",
      tags: ["jobs"],
      summary: "The zip of all outputs (425 until the job is finished and the zip is built)",
      description:
        "The zip is built once by the internal `zip` queue and then served from cache; `repack=true` builds it again. " +
        "While the job runs or the zip is being built the answer is 425 with Retry-After: ask again. Supports HTTP ranges.",
      security,
      request: {
        params: UuidParam,
        query: z.object({
          repack: z
            .enum(["true", "false", "1", "0"])
            .optional()
            .openapi({ description: "true: build the zip again" }),
        }),
      },
      responses: {
        200: fileContent("The zip, named <uuid>.zip", "application/zip"),
        206: fileContent("Part of the zip (Range)", "application/zip"),
        ...errorResponses,
        410: envelopeOf("The job's files were removed by the cleanup"),
        413: envelopeOf("The outputs are more than one zip can hold"),
        425: envelopeOf(
          "The job is not finished, or the zip is being built: retry after Retry-After seconds",
        ),
      },
    }),
    async (c) => {
      const job = requireJob(deps, c.req.valid("param").uuid);
      requireFiles(job);
      const repack = ["true", "1"].includes(c.req.valid("query").repack ?? "");
      // The zip reads the outputs by name: not while a process of the job may still swap one for a
      // link (a cancelled job is REVOKED before its processes die).
      if (isTerminal(job.status) && deps.scheduler.hasLiveAttempt(job.uuid)) {
        throw new ApiError(425, `Job '${job.uuid}' is still stopping: its processes have not ended yet`, {
          "Retry-After": "1",
        });
      }
      const answer = await deps.archives.fetch(job, repack);
      if (answer.kind === "failed")
        throw clientError(answer.error) ?? new ApiError(500, answer.error.message);
      if (answer.kind === "wait") {
        throw new ApiError(425, answer.message, { "Retry-After": String(answer.retryAfterS) });
      }
      return fileResponse(c.req.raw, answer, `${job.uuid}.zip`) as never;
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
      200: fileContent("The file (Content-Type from its name)", "application/octet-stream"),
      206: fileContent("Part of the file (Range)", "application/octet-stream"),
      ...errorResponses,
      410: envelopeOf("The job's files were removed by the cleanup"),
      416: envelopeOf("The range is outside the file"),
    },
  });
  app.get("/jobs/:uuid/outputs/:path{.+}", async (c) => {
    const uuid = c.req.param("uuid");
    if (!UUID_V4.test(uuid)) throw badRequest(`uuid: must be a job UUID (v4, lowercase), got '${uuid}'`);
    const job = requireJob(deps, uuid);
    requireFiles(job);
    const relative = c.req.param("path");
    let path: string;
    try {
      path = resolveInside(deps.folders.outputsDir(job.uuid), relative);
    } catch (error) {
      if (error instanceof UnsafePathError) throw badRequest(error.message);
      throw error;
    }
    // Checked on the opened file, not on the name: a running job may swap a name for a link.
    let opened: ReturnType<typeof openOwnFile>;
    try {
      opened = openOwnFile(deps.folders.outputsDir(job.uuid), path);
    } catch (error) {
      if (error instanceof UnsafePathError)
        throw badRequest(`Invalid file path '${relative}': ${error.message}`);
      if (error instanceof NotOwnFileError) {
        throw new ApiError(
          403,
          `File 'outputs/${relative}' is not served: ${error.message}, so it is not the job's own; write outputs as plain files (copy, not link)`,
        );
      }
      throw error;
    }
    if (!opened) throw new ApiError(404, `File 'outputs/${relative}' not found`);
    const fileName = relative.split("/").pop()!;
    // Until the job has ended for good and its last attempt's process group is gone (a cancelled
    // job is REVOKED before its processes die), a process of it could swap the name after this
    // check: the bytes go from the descriptor just checked. After that, the name is what was
    // checked, and is sent by path with sendfile and a Content-Length.
    if (!isTerminal(job.status) || deps.scheduler.hasLiveAttempt(job.uuid)) {
      return fileResponse(c.req.raw, opened, fileName);
    }
    closeSync(opened.fd);
    return fileResponse(c.req.raw, { path, info: opened.info }, fileName);
  });
}
