// Watching a job until it ends: the daemon's live /events stream for this job (state, progress,
// steps, status), reconnecting when the connection drops (a daemon restart keeps the job) and
// falling back to polling /details once a second when the daemon has no /events route.
import { ConnectionError, HttpError } from "./errors.ts";
import { TERMINAL_STATUSES } from "./exit-codes.ts";
import type { ApiClient } from "./http.ts";
import type { JobProgress, JobView } from "./progress.ts";
import { readSse } from "./sse.ts";

export interface JobDetails {
  uuid: string;
  name: string | null;
  status: string;
  progress: number | null;
  error: string | null;
  time_info?: { request: string | null; started: string | null; stopped: string | null };
  steps?: { duration: number; info: string }[] | null;
  retry?: number;
  result?: unknown;
  queue?: string;
  process?: string;
  [key: string]: unknown;
}

/** How long the watch keeps trying to reach a daemon that went away. */
const RECONNECT_FOR_MS = 60_000;
const POLL_MS = 1000;

export function fetchDetails(client: ApiClient, uuid: string): Promise<JobDetails> {
  return client.json<JobDetails>(`/jobs/${uuid}/details`);
}

export function viewOf(details: JobDetails): JobView {
  return { status: details.status, progress: details.progress, step: details.steps?.at(-1)?.info ?? null };
}

/** Reads /events?job= until its `end` (true) or until the stream closes early (false). */
async function follow(client: ApiClient, uuid: string, display: JobProgress): Promise<boolean> {
  const res = await client.request(`/events?job=${uuid}`, { headers: { accept: "text/event-stream" } });
  const view: JobView = { status: "PENDING", progress: null, step: null };
  try {
    for await (const event of readSse(res.body!)) {
      const data = event.data ? (JSON.parse(event.data) as Record<string, unknown>) : {};
      if (event.event === "state") {
        view.status = String(data.status);
        view.progress = (data.progress as number | null) ?? null;
        view.step = (data.step as string | null) ?? null;
      } else if (event.event === "progress") {
        view.progress = data.progress as number;
        view.step = (data.step as string | null) ?? view.step;
      } else if (event.event === "status") {
        // The final status is shown from the details read next, with the final progress and steps.
        if (TERMINAL_STATUSES.has(String(data.to))) continue;
        view.status = String(data.to);
      } else if (event.event === "end") {
        return true;
      } else {
        continue;
      }
      display.update(view);
    }
  } catch (error) {
    throw new ConnectionError(client.baseUrl, error);
  }
  return false;
}

/** Watches `uuid` until it is SUCCESS, FAILURE or REVOKED; returns its final details. */
export async function watchJob(client: ApiClient, uuid: string, display: JobProgress): Promise<JobDetails> {
  let live = true;
  let lostSince: number | null = null;
  for (;;) {
    try {
      if (live) await follow(client, uuid, display);
      const details = await fetchDetails(client, uuid);
      lostSince = null;
      display.update(viewOf(details));
      if (TERMINAL_STATUSES.has(details.status)) return details;
    } catch (error) {
      if (error instanceof HttpError && error.status === 404 && error.details.startsWith("No route")) {
        live = false; // an older daemon: poll
        continue;
      }
      if (!(error instanceof ConnectionError)) throw error;
      lostSince ??= Date.now();
      if (Date.now() - lostSince > RECONNECT_FOR_MS) throw error;
    }
    await Bun.sleep(POLL_MS);
  }
}
