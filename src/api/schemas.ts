// Response and parameter schemas: the shapes of the original API (field names and order kept),
// plus extra fields where they help. They document /openapi.json and validate path parameters.
import { z } from "@hono/zod-openapi";

/** A UUID v4, as the original's job ids. */
export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export const UuidParam = z.object({
  uuid: z
    .string()
    .regex(UUID_V4, "must be a job UUID (v4, lowercase), e.g. 0b8e5b9a-2c4d-4f6e-9a1b-3c5d7e9f1a2b")
    .openapi({ param: { name: "uuid", in: "path" }, example: "0b8e5b9a-2c4d-4f6e-9a1b-3c5d7e9f1a2b" }),
});

export const ErrorEnvelope = z
  .object({
    detail: z.object({ code: z.number().int(), message: z.string(), details: z.string() }),
  })
  .openapi("Error");

export const Unauthorized = z.object({ detail: z.literal("Invalid token") }).openapi("Unauthorized");

export const JobState = z
  .object({
    uuid: z.string(),
    name: z.string().nullable(),
    status: z.string().openapi({ example: "SUCCESS" }),
    progress: z.number().int().nullable(),
    error: z.string().nullable(),
  })
  .openapi("JobState");

export const Step = z.object({ duration: z.number(), info: z.string() }).openapi("Step");

export const Attempt = z
  .object({
    number: z.number().int(),
    queue: z.string(),
    slot: z.string(),
    node: z.string().nullable().openapi({ description: "The node that ran it (its node id)" }),
    started: z.string(),
    stopped: z.string().nullable(),
    cause: z.string().nullable().openapi({
      description:
        "success, exception, exit, signal, timeout, memory, log, revoked, spawn, disk (the outputs could not be fsynced), stopped, lost",
    }),
    exit_code: z.number().int().nullable(),
    signal: z.string().nullable(),
    peak_rss_kb: z.number().int().nullable(),
    error: z.string().nullable(),
    note: z
      .string()
      .nullable()
      .openapi({ description: "What the scheduler decided after it, e.g. the escalation" }),
    steps: z.array(z.object({ duration: z.number(), info: z.string() })).nullable(),
  })
  .openapi("Attempt");

export const JobDetails = JobState.extend({
  time_info: z.object({
    request: z.string().nullable(),
    started: z.string().nullable(),
    stopped: z.string().nullable(),
  }),
  steps: z.array(Step).nullable(),
  retry: z.number().int(),
  result: z.unknown().openapi({ description: "What the entrypoint returned (any JSON value)" }),
  queue: z.string(),
  process: z.string(),
  priority: z.number().int(),
  time_limit: z.number().int(),
  wait_reason: z
    .string()
    .nullable()
    .openapi({ description: "Why a waiting job is not running, when there is a reason to tell" }),
  input_file: z.string().nullable().openapi({ description: "The uploaded input's file name" }),
  root_file: z.string().nullable().openapi({
    description:
      "For an archive input: the file the job opens, relative to the inputs folder (config.root_file, params.filename, or the shallowest 3D file)",
  }),
  files_cleaned_at: z
    .string()
    .nullable()
    .openapi({ description: "When the cleanup removed the job's files (downloads then answer 410)" }),
  attempts: z.array(Attempt),
  parent: z
    .string()
    .nullable()
    .openapi({ description: "The job that started this one (a child job), or null" }),
  children: z.array(z.string()).openapi({ description: "Jobs this one started, in order" }),
}).openapi("JobDetails");

export const JobList = z.object({ jobs: z.array(JobState) }).openapi("JobList");
export const ProcessList = z.object({ processes: z.array(z.string()) }).openapi("ProcessList");
export const ProcessDoc = z.object({ doc: z.string() }).openapi("ProcessDoc");
export const OutputList = z.object({ outputs: z.array(z.string()) }).openapi("OutputList");

export const SubmitAnswer = JobState.extend({
  warnings: z.array(z.string()).optional().openapi({ description: "Config keys that were ignored, and why" }),
}).openapi("SubmitAnswer");

export const SubmitForm = z
  .object({
    process: z
      .string()
      .optional()
      .openapi({ description: "A pre-registered process name, or 'custom' (default)" }),
    script: z
      .any()
      .optional()
      .openapi({ type: "string", format: "binary", description: "The script (required for 'custom')" }),
    file: z.any().optional().openapi({ type: "string", format: "binary", description: "The input file" }),
    params: z
      .string()
      .optional()
      .openapi({ description: "JSON passed to the entrypoint as params", example: '{"duration": 1}' }),
    name: z.string().optional().openapi({ description: "A label for the job" }),
    config: z.string().optional().openapi({
      description:
        "JSON worker config: entrypoint, queue, time_limit, priority, compute_only, root_file (null = default)",
      example: '{"entrypoint": "main", "queue": "cpu", "time_limit": 3600}',
    }),
  })
  .openapi("SubmitForm");

export const errorResponses = {
  400: { description: "Invalid input", content: { "application/json": { schema: ErrorEnvelope } } },
  401: {
    description: "Missing or wrong x-api-key",
    content: { "application/json": { schema: Unauthorized } },
  },
  404: { description: "Unknown job", content: { "application/json": { schema: ErrorEnvelope } } },
} as const;
