// The parent/child channel. The daemon writes one JobSpec line on the child's stdin, then Reply
// lines to the child's requests; the child writes ChildMessage JSON lines on fd 3 (a pipe: unlike
// Bun's ipc option, it loses nothing when the child exits right after writing). Python's compat
// package speaks the same lines; a Python job forked by the fork server has one unix socket as both
// its stdin and its fd 3.

export interface JobSpec {
  jobId: string;
  /** The job's folder: the child's working directory (a warm child moves there itself). */
  cwd: string;
  /** config.compute_only: the job says it produces no output files (ctx.computeOnly, pc.is_compute_only()). */
  computeOnly?: boolean;
  attempt: number;
  queue: string;
  retry: number;
  script: string;
  entrypoint: string;
  params: unknown;
  /** The file the job works on: the upload, or the root file inside an extracted archive. */
  inputFile: string | null;
  /** The uploaded archive, when the input was one (its content is extracted in inputDir). */
  inputArchive: string | null;
  inputDir: string;
  outputDir: string;
  /**
   * Only for a harness that runs several jobs (JOBS_PER_CHILD > 1): after this job it stays for
   * the next spec, and writes this mark at the end of its stdout and its stderr once the job's
   * output is all out. Absent: the harness exits after the job, as it always did.
   */
  release?: string;
}

/** A child job a running script asks for (ctx.spawn; the Python shim's execute / canvas). */
export interface ChildSpec {
  /** Another entrypoint of the same script (default: the parent's entrypoint)... */
  entrypoint?: string;
  /** ...or a pre-registered process instead of the parent's script. */
  process?: string;
  /** Default: the parent's queue. */
  queue?: string;
  params?: unknown;
  name?: string;
  /** Seconds; default: the daemon's default time limit. */
  timeLimit?: number;
  priority?: number;
}

/**
 * How a child job ended, as the parent's wait sees it (or where it is, for a wait that timed out:
 * result and error null). The rest is the job's meta, as in /jobs/{id}/details: the Python shim
 * puts it in a wrapped result, as the original's task meta.
 */
export interface ChildOutcome {
  id: string;
  status: string;
  result: unknown;
  error: string | null;
  name?: string | null;
  progress?: number | null;
  steps?: { duration: number; info: string }[];
  time_info?: { request: string | null; started: string | null; stopped: string | null };
  retry?: number;
}

/** `at` is the child's wall clock in ms; durations are differences of two `at` of the same child. */
export type ChildMessage =
  | { t: "total"; n: number }
  | { t: "next"; info: string; at: number }
  | { t: "stop"; at: number }
  | { t: "result"; value: unknown }
  | { t: "error"; name: string; message: string; stack: string }
  /** Start a child job; the reply's value is its id. `req` numbers the requests of one attempt. */
  | { t: "spawn"; req: number; job: ChildSpec }
  /**
   * Wait until every listed job has ended; the reply's value is ChildOutcome[] in the same order.
   * With timeoutMs, the reply comes by then at the latest, with the status of the jobs still going
   * (0: at once, and the job is never parked).
   */
  | { t: "wait"; req: number; ids: string[]; timeoutMs?: number };

/** The daemon's answer to a spawn or wait request, on the child's stdin. */
export type Reply =
  | { t: "reply"; req: number; ok: true; value: unknown }
  | { t: "reply"; req: number; ok: false; error: string };

export const CHANNEL_FD = 3;
