// Turns stored rows into the original's JSON shapes.
import { errorHeadline } from "../jobs/error-headline.ts";
import type { AttemptRow, JobRow } from "../store/schema.ts";

/** ISO time with an explicit +00:00 offset (Python's fromisoformat before 3.11 rejects "Z"). */
export function isoTime(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString().replace("Z", "+00:00");
}

export function jobState(job: JobRow) {
  return {
    uuid: job.uuid,
    name: job.name,
    status: job.status,
    progress: job.progress,
    error: errorHeadline(job.error),
  };
}

export function jobDetails(job: JobRow, attempts: AttemptRow[], children: JobRow[]) {
  return {
    ...jobState(job),
    // The state's error is its headline; details carry the whole text (the stack, for a script error).
    error: job.error,
    time_info: {
      request: isoTime(job.requestedAt),
      started: isoTime(job.startedAt),
      stopped: isoTime(job.stoppedAt),
    },
    steps:
      job.stepsJson === null ? null : (JSON.parse(job.stepsJson) as { duration: number; info: string }[]),
    retry: job.retry,
    result: job.resultJson === null ? null : (JSON.parse(job.resultJson) as unknown),
    queue: job.queue,
    process: job.process,
    priority: job.priority,
    time_limit: job.timeLimitS,
    wait_reason: job.waitReason,
    parent: job.parentUuid,
    children: children.map((c) => c.uuid),
    input_file: job.inputFile,
    root_file: job.rootFile,
    files_cleaned_at: isoTime(job.filesCleanedAt),
    attempts: attempts.map((a) => ({
      number: a.number,
      queue: a.queue,
      slot: a.slot,
      node: a.nodeId,
      started: isoTime(a.startedAt)!,
      stopped: isoTime(a.endedAt),
      cause: a.exitCause,
      exit_code: a.exitCode,
      signal: a.signal,
      peak_rss_kb: a.peakRssKb,
      error: a.error,
      note: a.note,
      steps: a.stepsJson === null ? null : (JSON.parse(a.stepsJson) as { duration: number; info: string }[]),
    })),
  };
}
