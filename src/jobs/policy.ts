// What an ended or interrupted attempt means for its job: the one place that decides it. Pure: the
// scheduler (and the recovery at start) asks, the store applies.
//
// The original's policy: an infrastructure failure (crash, non-zero exit, signal, out of memory,
// time limit) on `cpu` or `gpu` is retried on `gpuhigh` with the retry time limit; a failure on
// `gpuhigh` (or any other queue) is final; an exception raised by the script is its own verdict
// and final at once. Retries are bounded (MAX_RETRIES, 1 as the original).
import { JobStatus } from "./states.ts";

/**
 * How an attempt's process ended, as the runner saw it (runner/runner.ts classifies), or `disk`: it
 * succeeded but its outputs could not be fsynced (the scheduler's check before storing SUCCESS).
 */
export type ExitCause =
  | "success"
  | "exception"
  | "exit"
  | "signal"
  | "timeout"
  | "memory"
  | "log"
  | "revoked"
  | "spawn"
  | "disk"
  | "stopped";

/**
 * How an attempt ended: its process's end (`stopped`: the daemon's stop killed it after the grace
 * period), or `lost` when the daemon died under it (found at the next start). Only `lost` counts
 * towards the poison rule: a stop is never the job's fault.
 */
export type AttemptCause = ExitCause | "lost";

/** Causes that say the machine or the limits failed the job, not the script's own logic. */
export const INFRASTRUCTURE_CAUSES: ReadonlySet<AttemptCause> = new Set([
  "exit",
  "signal",
  "timeout",
  "memory",
  "spawn",
  "disk",
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
  if (cause === "stopped") return interruptionVerdict({ crashed: false, lostBefore: 0, maxLost: 1 });
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

/** The note on an attempt a stop or a crash interrupted, when its job runs again. */
export const INTERRUPTED = "the daemon stopped while the job ran; it runs again";

export interface InterruptionInput {
  /** True when the daemon died (found at the next start); false for a stop that killed it. */
  crashed: boolean;
  /** Attempts of this job already ended as `lost`, before this one. */
  lostBefore: number;
  /** MAX_LOST_ATTEMPTS. */
  maxLost: number;
}

/**
 * An attempt the daemon did not see end. It runs again at its old place (PENDING), unless crashes
 * interrupted it `maxLost` times: a job that takes the daemon down must not loop, so it is failed.
 * A stop (SHUTDOWN_GRACE ran out) is never the job's fault: always again.
 */
export function interruptionVerdict(input: InterruptionInput): Verdict & { error?: string } {
  const times = input.lostBefore + 1;
  if (input.crashed && times >= input.maxLost) {
    return {
      status: JobStatus.FAILURE,
      note: "poison",
      error: `The job was interrupted ${times} times by a daemon crash while it ran; it is failed so that it cannot take the daemon down again`,
    };
  }
  return { status: JobStatus.PENDING, note: INTERRUPTED };
}
