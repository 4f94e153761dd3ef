// POST /jobs/{uuid}/retry: a finished job submitted again as a new job with the same script,
// inputs, params and config (daemon/job-retry.ts). The original had no such route.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { RetryRefused } from "../../daemon/job-retry.ts";
import { JobRefused } from "../../jobs/compile.ts";
import { API_KEY } from "../auth.ts";
import type { ApiDeps } from "../deps.ts";
import { ApiError, badRequest } from "../errors.ts";
import { ErrorEnvelope, errorResponses, UuidParam } from "../schemas.ts";

const RetryAnswer = z
  .object({
    uuid: z.string().openapi({ description: "The new job" }),
    name: z.string().nullable(),
    status: z.literal("SENT"),
    progress: z.null(),
    error: z.null(),
    retry_of: z.string().openapi({ description: "The job it repeats" }),
  })
  .openapi("RetryAnswer");

const envelopeOf = (description: string) => ({
  description,
  content: { "application/json": { schema: ErrorEnvelope } },
});

export function registerRetryRoute(app: OpenAPIHono, deps: ApiDeps): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/jobs/{uuid}/retry",
      tags: ["jobs"],
      summary: "Run a finished job again, as a new job with the same script, inputs, params and config",
      description:
        "The job must be SUCCESS, FAILURE or REVOKED (409 otherwise) and still have its files (410 after the " +
        "cleanup). The new job is linked to nothing: it is an ordinary submission with its own uuid. A " +
        "process job runs the process as registered now.",
      security: API_KEY,
      request: { params: UuidParam },
      responses: {
        200: { description: "The new job", content: { "application/json": { schema: RetryAnswer } } },
        ...errorResponses,
        409: envelopeOf("The job has not finished, or its process is no longer registered"),
        410: envelopeOf("The cleanup removed the job's files"),
        507: envelopeOf("The data disk is full or under MIN_FREE_DISK"),
      },
    }),
    async (c) => {
      const { uuid } = c.req.valid("param");
      try {
        const job = await deps.retries.retry(uuid);
        return c.json(
          {
            uuid: job.uuid,
            name: job.name,
            status: "SENT" as const,
            progress: null,
            error: null,
            retry_of: uuid,
          },
          200,
        );
      } catch (error) {
        if (error instanceof RetryRefused) throw new ApiError(error.status, error.message);
        if (error instanceof JobRefused) throw badRequest(error.message);
        throw error;
      }
    },
  );
}
