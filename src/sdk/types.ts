// What a job script sees. Script authors import these types:
//   import type { Ctx, Schedule } from "pixyz-scheduler/sdk";
// The names mirror the original's Python ProgramContext (get_input_file -> inputFile, ...).
import type { ChildOutcome, ChildSpec } from "./protocol.ts";

export type { ChildOutcome };

/** Progress reporting: steps with durations; progress = steps ended / total, in percent. */
export interface Progress {
  /** Declares how many steps the job will have (n <= 0 counts as 1). */
  total(n: number): void;
  /** Closes the open step (recording its duration) and opens a new one named `info`. */
  next(info?: string): void;
  /** Closes the open step. Called for you when the entrypoint returns. */
  stop(): void;
}

/** A child job started by ctx.spawn: a real job with its own id, listed with `parent` in its details. */
export interface ChildJob {
  readonly id: string;
  /** Waits for the child; its result, or a thrown ChildJobError when it ended FAILURE or REVOKED. */
  result(): Promise<unknown>;
}

/**
 * What ctx.spawn accepts: another entrypoint of this script or a process, the queue (default: the
 * parent's), params, name, timeLimit (seconds), priority. The same shape travels on the channel.
 */
export type ChildOptions = ChildSpec;

export interface Ctx {
  /** The job's params (the `params` form field, parsed JSON). */
  readonly params: unknown;
  /** The job's UUID. */
  readonly jobId: string;
  /** The queue the job runs on now (it changes when a failure escalates). */
  readonly queue: string;
  /** 0 on the first attempt, 1 on the first retry, ... */
  readonly retry: number;
  /** config.compute_only: the job was submitted as producing no output files. */
  readonly computeOnly: boolean;
  /**
   * The input file, as the original's get_input_file. With no name: the uploaded file; for an
   * uploaded archive (.zip, .tar, .tar.gz, .tgz; extracted into the inputs folder), its root file:
   * config.root_file, else params.filename when it names a file of the archive, else the shallowest
   * 3D file (an assembly before its parts). Null when the job has no input; throws when an archive
   * has no root file. With a name: that input file, uploaded alone or inside the archive, by its
   * path relative to the inputs folder or by a base name found once; throws when there is none.
   */
  inputFile(name?: string): string | null;
  /** The uploaded archive itself (kept in the inputs folder), or null when the input was not one. */
  inputArchive(): string | null;
  /** The inputs folder, or the path of `name` inside it (parent folders are created). */
  inputDir(name?: string): string;
  /** The outputs folder, or the path of `name` inside it (parent folders are created). */
  outputDir(name?: string): string;
  readonly progress: Progress;
  /** Writes one line to the job's log (also visible to the daemon's operators). */
  log(...args: unknown[]): void;
  /** Aborts when the job is cancelled or reaches its time limit; the process is killed soon after. */
  readonly signal: AbortSignal;
  /**
   * Starts a child job (a DAG step): another entrypoint of this script or a process, on any queue.
   * While the script waits on children its slot is lent out, so waiting parents never starve them.
   */
  spawn(options: ChildOptions): Promise<ChildJob>;
  /** Waits for several children at once (a group / chord join); outcomes in the same order, never throws. */
  wait(children: readonly ChildJob[]): Promise<ChildOutcome[]>;
}

/** Optional declaration read before queueing: `export const schedule: Schedule = { queue: "gpu" }`. */
export interface Schedule {
  queue?: string;
  timeLimit?: number;
  priority?: number;
}

/** The shape of an entrypoint: `export async function main(ctx: Ctx, params: P): Promise<R>`. */
export type Entrypoint<P = unknown, R = unknown> = (ctx: Ctx, params: P) => R | Promise<R>;
