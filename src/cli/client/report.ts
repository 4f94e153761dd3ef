// Reporting a job's state: the summary a person reads, and the watch that ends in an exit code.
import { errorHeadline } from "../../jobs/error-headline.ts";
import { exitCodeForStatus } from "./exit-codes.ts";
import { secondsBetween } from "./format.ts";
import type { ApiClient } from "./http.ts";
import type { Output } from "./output.ts";
import { PROGRAM } from "./program.ts";
import { type JobDetails, watchJob } from "./watch.ts";

export function summary(details: JobDetails): string {
  const lines = [`Job ${details.uuid}  ${details.status}  ${details.progress ?? 0}%`];
  if (details.name) lines.push(`  name:      ${details.name}`);
  if (details.process) lines.push(`  process:   ${details.process}`);
  if (details.queue)
    lines.push(`  queue:     ${details.queue}${details.retry ? ` (retry ${details.retry})` : ""}`);
  const t = details.time_info;
  if (t?.request) lines.push(`  requested: ${t.request}`);
  if (t?.started) lines.push(`  started:   ${t.started}`);
  if (t?.stopped) {
    const took = secondsBetween(t.started, t.stopped);
    lines.push(`  stopped:   ${t.stopped}${took === null ? "" : ` (ran ${took.toFixed(2)} s)`}`);
  }
  if (typeof details.wait_reason === "string") lines.push(`  waiting:   ${details.wait_reason}`);
  for (const [i, step] of (details.steps ?? []).entries()) {
    lines.push(`  step ${i + 1}:    ${step.info} (${step.duration.toFixed(2)} s)`);
  }
  if (details.error) {
    // The line that says what failed; the whole text (a traceback) is in the --json document.
    const headline = errorHeadline(details.error);
    lines.push(`  error:     ${headline}`);
    if (headline !== details.error.trim())
      lines.push(`             (the whole error: ${PROGRAM} status -j ${details.uuid} --json)`);
  }
  if (details.result !== undefined && details.result !== null) {
    lines.push(`  result:    ${JSON.stringify(details.result)}`);
  }
  return lines.join("\n");
}

/**
 * Watches the job with a live display until it ends, says how it ended, prints the result with
 * `printResult`, and returns the exit code of its final status. Ctrl-C stops watching, not the job.
 */
export async function watchAndReport(
  client: ApiClient,
  out: Output,
  uuid: string,
  options: { printResult: boolean; printSummary: boolean },
): Promise<number> {
  const display = out.jobProgress(uuid);
  const onInterrupt = () => {
    out.stopProgress();
    console.error(
      `\nStopped watching; job ${uuid} goes on. Watch again: ${PROGRAM} status -j ${uuid} -w; cancel: ${PROGRAM} cancel -j ${uuid}`,
    );
    process.exit(130);
  };
  process.once("SIGINT", onInterrupt);
  let details: JobDetails;
  try {
    details = await watchJob(client, uuid, display);
  } finally {
    process.off("SIGINT", onInterrupt);
    display.stop();
  }
  const took = secondsBetween(details.time_info?.started, details.time_info?.stopped);
  out.note(`Job ${uuid} ${details.status}${took === null ? "" : ` after ${took.toFixed(2)} s`}`);
  if (details.error) out.note(`Error: ${errorHeadline(details.error)}`);
  if (options.printSummary) out.data(summary(details));
  if (options.printResult) out.data(JSON.stringify(details.result ?? null, null, 2));
  out.document(details);
  return exitCodeForStatus(details.status);
}
