// The dashboard's access to the daemon's API: same origin, the session cookie (never the token),
// and the CSRF header on every request that changes state. A 401 means the session is over: the
// app shows the sign-in page.
export const CSRF_HEADER = "x-pixyz-csrf";

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Headers = new Headers(),
  ) {
    super(message);
  }
}

let onSignedOut: () => void = () => {};
export function whenSignedOut(handler: () => void): void {
  onSignedOut = handler;
}

/** The message of an API error: the envelope's `details`, or the 401's `detail`. */
async function messageOf(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { detail?: unknown };
    const detail = body.detail;
    if (typeof detail === "string") return detail;
    if (detail && typeof detail === "object" && "details" in detail) return String(detail.details);
  } catch {
    // not JSON
  }
  return `${res.status} ${res.statusText}`;
}

export async function request(
  path: string,
  init: RequestInit = {},
  accept: number[] = [],
): Promise<Response> {
  const headers = new Headers(init.headers);
  const method = (init.method ?? "GET").toUpperCase();
  if (method !== "GET" && method !== "HEAD") headers.set(CSRF_HEADER, "1");
  const res = await fetch(path, { ...init, headers, credentials: "same-origin" });
  if (res.status === 401 && !path.startsWith("/ui/session")) {
    onSignedOut();
    throw new ApiFailure(401, "Your session has ended: sign in again");
  }
  if (!res.ok && !accept.includes(res.status))
    throw new ApiFailure(res.status, await messageOf(res), res.headers);
  return res;
}

export async function getJson<T>(path: string): Promise<T> {
  return (await (await request(path)).json()) as T;
}

export async function sendJson<T>(path: string, method: string, body?: unknown): Promise<T> {
  const res = await request(path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (res.status === 204 ? null : await res.json()) as T;
}

/** POST a multipart form with upload progress (fetch reports none); resolves with the JSON answer. */
export function uploadForm<T>(
  path: string,
  form: FormData,
  onProgress: (sent: number, total: number) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader(CSRF_HEADER, "1");
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : 0);
    xhr.onerror = () => reject(new ApiFailure(0, "The daemon could not be reached"));
    xhr.onload = () => {
      const body = xhr.response as { detail?: unknown } | null;
      if (xhr.status >= 200 && xhr.status < 300) return resolve(body as T);
      if (xhr.status === 401) onSignedOut();
      const detail = body?.detail;
      const message =
        typeof detail === "string"
          ? detail
          : detail && typeof detail === "object" && "details" in detail
            ? String(detail.details)
            : `${xhr.status} ${xhr.statusText}`;
      reject(new ApiFailure(xhr.status, message));
    };
    xhr.send(form);
  });
}

// The shapes the pages read (docs/api.md).

export type Status = "PENDING" | "STARTED" | "RETRY" | "SUCCESS" | "FAILURE" | "REVOKED";
export const STATUSES: Status[] = ["PENDING", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED"];
export const isFinished = (s: string) => s === "SUCCESS" || s === "FAILURE" || s === "REVOKED";

export interface JobListItem {
  uuid: string;
  name: string | null;
  status: Status;
  progress: number | null;
  error: string | null;
  queue: string;
  process: string;
  retry: number;
  parent: string | null;
  requested: string;
  started: string | null;
  stopped: string | null;
  node: string | null;
  slot: string | null;
  step: string | null;
}

export interface SearchAnswer {
  jobs: JobListItem[];
  next: number | null;
  counts: Record<Status, number>;
}

export interface Step {
  duration: number;
  info: string;
}

export interface Attempt {
  number: number;
  queue: string;
  slot: string;
  node?: string | null;
  started: string;
  stopped: string | null;
  cause: string | null;
  exit_code: number | null;
  signal: string | null;
  peak_rss_kb: number | null;
  error: string | null;
  note: string | null;
  steps: Step[] | null;
}

export interface JobDetails {
  uuid: string;
  name: string | null;
  status: Status;
  progress: number | null;
  error: string | null;
  time_info: { request: string | null; started: string | null; stopped: string | null };
  steps: Step[] | null;
  retry: number;
  result: unknown;
  queue: string;
  process: string;
  priority: number;
  time_limit: number;
  wait_reason: string | null;
  parent: string | null;
  children: string[];
  input_file: string | null;
  root_file: string | null;
  files_cleaned_at: string | null;
  attempts: Attempt[];
}

export interface JobState {
  uuid: string;
  name: string | null;
  status: Status;
  progress: number | null;
  error: string | null;
}

export interface Queue {
  name: string;
  waiting: number;
  running: number;
  slots: number;
  busy: number;
  served: string;
  served_by: string[];
  served_note: string | null;
  oldest_wait_s: number | null;
  wait_reason: string | null;
}

export interface Slot {
  id: string;
  queue: string;
  serves: string[];
  kind: "compute" | "control";
  fallback_for: string[];
  gpu: { index: number; name: string; vram_mb: number } | null;
  job: string | null;
  attempt: number | null;
  since: string | null;
}

export interface Capacity {
  cores: number;
  memory_mb: number;
  gpus: { index: number; name: string; vram_mb: number; used_mb: number; utilization_pct: number }[];
  notes: string[];
}

export interface Peer {
  name: string | null;
  node_id?: string | null;
  url: string;
  state: string;
  last_seen: string | null;
  version?: string | null;
  draining?: boolean;
  queues: Record<string, { slots: number; busy: number; waiting: number }>;
  gpus: { model: string; vram_mb: number }[];
  lost_adverts: number;
  delegated_to: number;
  delegated_from: number;
}

export interface StatsMinute {
  at: string;
  submitted: number;
  started: number;
  succeeded: number;
  failed: number;
  revoked: number;
  retried: number;
  wait_avg_s: number | null;
  wait_max_s: number | null;
}

export interface Stats {
  minutes: StatsMinute[];
  running: number;
  disk: { status: "ok" | "low" | "full"; freeBytes: number; totalBytes: number; minFreeBytes: number };
  memory: { totalBytes: number; availableBytes: number; daemonRssBytes: number };
}
