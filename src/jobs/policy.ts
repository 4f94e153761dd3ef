// What an ended attempt means for its job. Pure: the scheduler asks, the store applies.
//
// The original's policy: an infrastructure failure (crash, non-zero exit, signal, out of memory,
// time limit) on `cpu` or `gpu` is retried on `gpuhigh` with the retry time limit; a failure on
// `gpuhigh` (or any other queue) is final; an exception raised by the script is its own verdict
// and final at once. Retries are bounded (MAX_RETRIES, 1 as the original).
import { JobStatus } from "./states.ts";

export type AttemptCause =
  | "success"
  | "exception"
  | "exit"
  | "signal"
  | "timeout"
  | "memory"
  | "log"
  | "revoked"
  | "spawn"
  | "lost";

/** Causes that say the machine or the limits failed the job, not the script's own logic. */
export const INFRASTRUCTURE_CAUSES: ReadonlySet<AttemptCause> = new Set([
  "exit",
  "signal",
  "timeout",
  "memory",
  "spawn",
]);

/** Queues whose infrastructure failures escalate. */
export const ESCALATING_QUEUES: ReadonlySet<string> = new Set(["cpu", "gpu"]);

export interface PolicyInput {
  cause: AttemptCause;
  queue: string;
  /** Retries already made (the job's retry counter). */
  retry: number;
  maxRetries: number;
  /** Where retries go on this node (gpuhigh, or the highest tier served); null: nowhere. */
  escalateTo: string | null;
  retryTimeLimitS: number;
}

export interface Verdict {
  status: JobStatus;
  /** For RETRY: where and how long the next attempt runs, and a sentence for the attempt. */
  nextQueue?: string;
  nextTimeLimitS?: number;
  note?: string;
}

export function verdictFor(input: PolicyInput): Verdict {
  const { cause } = input;
  if (cause === "success") return { status: JobStatus.SUCCESS };
  if (cause === "revoked") return { status: JobStatus.REVOKED };
  if (!INFRASTRUCTURE_CAUSES.has(cause)) return { status: JobStatus.FAILURE };
  if (!ESCALATING_QUEUES.has(input.queue) || input.retry >= input.maxRetries || input.escalateTo === null) {
    return { status: JobStatus.FAILURE };
  }
  const note =
    input.escalateTo === "gpuhigh"
      ? `retry ${input.retry + 1} escalated from ${input.queue} to gpuhigh`
      : `retry ${input.retry + 1} runs on ${input.escalateTo}: no slot on this node serves gpuhigh`;
  return {
    status: JobStatus.RETRY,
    nextQueue: input.escalateTo,
    nextTimeLimitS: input.retryTimeLimitS,
    note,
  };
}
