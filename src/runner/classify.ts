// How an attempt ended, from what the runner saw: why it killed the job (if it did), what the
// script reported on its channel, and the process's exit. Pure; the order of the checks is the
// rule: a kill the runner made wins over what the dying script said, and a reported error wins
// over a clean exit.
import type { ExitCause } from "../jobs/policy.ts";
import type { ChildMessage } from "../sdk/protocol.ts";

/** Why the runner kills a job: its time, memory or log limit, a cancel, or the daemon's stop. */
export type KillCause = "revoked" | "timeout" | "memory" | "log" | "stop";

export interface Observed {
  killedFor: KillCause | null;
  /** The script's error message on the channel, if any. */
  thrown: Extract<ChildMessage, { t: "error" }> | null;
  /** The script's result on the channel, if any. */
  reported: { value: unknown } | null;
  exitCode: number | null;
  signal: string | null;
  /** For the messages: the limits that were in force and what was measured. */
  timeLimitS: number;
  memory: { usedKb: number; limitKb: number | undefined };
  logMaxBytes: number;
}

export interface Classified {
  cause: ExitCause;
  error?: string;
  result?: unknown;
}

/**
 * The script's error as text. The harness sends strings, but a script can write its own lines on
 * fd 3: anything else here would make the attempt's end throw and keep its slot.
 */
export function errorText(thrown: Extract<ChildMessage, { t: "error" }>): string {
  const text = (value: unknown, fallback: string) =>
    typeof value === "string" && value !== "" ? value : fallback;
  return text(thrown.stack, `${text(thrown.name, "Error")}: ${text(thrown.message, "(no message)")}`);
}

export function classifyExit(seen: Observed): Classified {
  switch (seen.killedFor) {
    case "timeout":
      return {
        cause: "timeout",
        error: `Time limit exceeded: the job ran longer than ${seen.timeLimitS} s and was killed`,
      };
    case "memory":
      return {
        cause: "memory",
        error: `Memory limit exceeded: the job's processes used ${seen.memory.usedKb} KB (limit ${seen.memory.limitKb} KB) and were killed`,
      };
    case "log":
      return {
        cause: "log",
        error: `The job's log grew past ${seen.logMaxBytes} bytes (JOB_LOG_MAX_BYTES) and the job was stopped`,
      };
    case "revoked":
      return { cause: "revoked", error: "The job was cancelled" };
    case "stop":
      return { cause: "stopped", error: "The daemon stopped while the job ran; it runs again" };
  }
  if (seen.thrown) return { cause: "exception", error: errorText(seen.thrown) };
  if (seen.reported && seen.exitCode === 0) return { cause: "success", result: seen.reported.value };
  if (seen.signal)
    return { cause: "signal", error: `The job's process was killed by ${seen.signal} (see the job log)` };
  return {
    cause: "exit",
    error: `The job's process exited with code ${seen.exitCode} without reporting a result (see the job log)`,
  };
}
