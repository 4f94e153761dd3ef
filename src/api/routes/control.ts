// Cancel, and the scheduler's views: what each queue holds and what each slot runs.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { JobStatus } from "../../jobs/states.ts";
import { API_KEY } from "../auth.ts";
import type { ApiDeps } from "../deps.ts";
import { ApiError, notFound } from "../errors.ts";
import { ErrorEnvelope, errorResponses, JobState, UuidParam } from "../schemas.ts";
import { isoTime, jobState } from "../views.ts";

const security = API_KEY;

const QueueView = z
  .object({
    name: z.string(),
    waiting: z.number().int(),
    running: z.number().int(),
    slots: z.number().int().openapi({ description: "Slots whose own queue this is" }),
    busy: z.number().int().openapi({ description: "Of those, how many run a job now" }),
    served: z.enum(["local", "fallback", "none"]).openapi({
      description:
        "local: slots of its own (or a higher tier) run it; fallback: only stand-ins do (no GPU here: the cpu slots, GPU_FALLBACK=cpu); none: its jobs wait",
    }),
    served_by: z.array(z.string()).openapi({ description: "Every slot that takes this queue's work" }),
    served_note: z
      .string()
      .nullable()
      .openapi({ description: "For a fallback: what its attempts note, e.g. 'no GPU here: ran on cpu'" }),
    oldest_wait_s: z
      .number()
      .nullable()
      .openapi({ description: "Seconds the oldest waiting job has waited" }),
    wait_reason: z
      .string()
      .nullable()
      .openapi({ description: "Why its jobs cannot run on this node, if so" }),
  })
  .openapi("Queue");

const SlotView = z
  .object({
    id: z.string(),
    queue: z.string(),
    serves: z.array(z.string()),
    kind: z.enum(["compute", "control"]).openapi({
      description: "control: holds orchestrating jobs (control, zip, clean), takes no core",
    }),
    fallback_for: z
      .array(z.string())
      .openapi({ description: "Queues it runs only because no slot of their own is here" }),
    gpu: z.object({ index: z.number().int(), name: z.string(), vram_mb: z.number() }).nullable(),
    job: z.string().nullable(),
    attempt: z.number().int().nullable(),
    since: z.string().nullable(),
  })
  .openapi("Slot");

const Capacity = z
  .object({
    cores: z.number().int(),
    memory_mb: z.number().int(),
    gpus: z.array(
      z.object({
        index: z.number().int(),
        name: z.string(),
        vram_mb: z.number(),
        used_mb: z.number(),
        utilization_pct: z.number(),
      }),
    ),
    notes: z.array(z.string()),
  })
  .openapi("Capacity");

export function registerControlRoutes(app: OpenAPIHono, deps: ApiDeps): void {
  app.openapi(
    createRoute({
      method: "delete",
      path: "/jobs/{uuid}",
      tags: ["jobs"],
      summary: "Cancel a job: REVOKED, its process tree killed if it runs; idempotent",
      security,
      request: { params: UuidParam },
      responses: {
        200: { description: "The job, now REVOKED", content: { "application/json": { schema: JobState } } },
        ...errorResponses,
        409: {
          description: "The job had already finished",
          content: { "application/json": { schema: ErrorEnvelope } },
        },
      },
    }),
    async (c) => {
      const { uuid } = c.req.valid("param");
      const job = await deps.scheduler.cancel(uuid);
      if (!job) throw notFound(`Job '${uuid}' does not exist`);
      if (job.status !== JobStatus.REVOKED) {
        throw new ApiError(
          409,
          `Job '${uuid}' already finished with status ${job.status}; there is nothing to cancel`,
        );
      }
      return c.json(jobState(job), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/queues",
      tags: ["scheduler"],
      summary: "Each queue: waiting and running jobs, slots, and why jobs wait when no slot serves it",
      security,
      responses: {
        200: {
          description: "The queues",
          content: { "application/json": { schema: z.object({ queues: z.array(QueueView) }) } },
        },
        ...errorResponses,
      },
    }),
    (c) => {
      const queues = deps.scheduler.queues().map((q) => ({
        name: q.name,
        waiting: q.waiting,
        running: q.running,
        slots: q.slots,
        busy: q.busy,
        served: q.served.how,
        served_by: q.served.by,
        served_note: q.served.note,
        oldest_wait_s: q.oldestWaitS,
        wait_reason: q.waitReason,
      }));
      return c.json({ queues }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/slots",
      tags: ["scheduler"],
      summary: "Each local slot (queue, GPU, current job) and the detected capacity",
      security,
      responses: {
        200: {
          description: "The slots",
          content: {
            "application/json": { schema: z.object({ slots: z.array(SlotView), capacity: Capacity }) },
          },
        },
        ...errorResponses,
      },
    }),
    (c) => {
      const slots = deps.scheduler.slots.map((slot) => {
        const running = deps.scheduler.runningOn(slot.id);
        return {
          id: slot.id,
          queue: slot.queue,
          serves: slot.serves,
          kind: slot.kind,
          fallback_for: Object.keys(slot.fallback),
          gpu: slot.gpu ? { index: slot.gpu.index, name: slot.gpu.name, vram_mb: slot.gpu.vramMb } : null,
          job: running?.uuid ?? null,
          attempt: running?.attempt ?? null,
          since: running ? isoTime(running.since) : null,
        };
      });
      const { capacity } = deps;
      return c.json(
        {
          slots,
          capacity: {
            cores: capacity.cores,
            memory_mb: capacity.memoryMb,
            gpus: capacity.gpus.map((g) => ({
              index: g.index,
              name: g.name,
              vram_mb: g.vramMb,
              used_mb: g.usedMb,
              utilization_pct: g.utilizationPct,
            })),
            notes: capacity.notes,
          },
        },
        200,
      );
    },
  );
}
