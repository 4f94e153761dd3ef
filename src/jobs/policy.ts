// What an ended attempt means for its job. Pure: the scheduler asks, the store applies.
import { JobStatus } from "./states.ts";

export type AttemptCause =
  | "success"
  | "exception"
  | "exit"
  | "signal"
  | "timeout"
  | "memory"
  | "revoked"
  | "spawn"
  | "lost";

export interface Verdict {
  status: JobStatus;
  /** For RETRY: where and how long the next attempt runs. */
  nextQueue?: string;
  nextTimeLimitS?: number;
}

/**
 * Spine policy: success is SUCCESS, a cancel is REVOKED, everything else is FAILURE. The original's
 * escalation (infrastructure failures on cpu/gpu retried on gpuhigh) plugs in here.
 */
export function verdictFor(cause: AttemptCause): Verdict {
  if (cause === "success") return { status: JobStatus.SUCCESS };
  if (cause === "revoked") return { status: JobStatus.REVOKED };
  return { status: JobStatus.FAILURE };
}
