// What a job script sees. Script authors import these types:
//   import type { Ctx, Schedule } from "pixyz-scheduler/sdk";
// The names mirror the original's Python ProgramContext (get_input_file -> inputFile, ...).

/** Progress reporting: steps with durations; progress = steps ended / total, in percent. */
export interface Progress {
  /** Declares how many steps the job will have (n <= 0 counts as 1). */
  total(n: number): void;
  /** Closes the open step (recording its duration) and opens a new one named `info`. */
  next(info?: string): void;
  /** Closes the open step. Called for you when the entrypoint returns. */
  stop(): void;
}

export interface Ctx {
  /** The job's params (the `params` form field, parsed JSON). */
  readonly params: unknown;
  /** The job's UUID. */
  readonly jobId: string;
  /** The queue the job runs on now (it changes when a failure escalates). */
  readonly queue: string;
  /** 0 on the first attempt, 1 on the first retry, ... */
  readonly retry: number;
  /** Absolute path of the uploaded input file, or null when the job has none. */
  inputFile(): string | null;
  /** The inputs folder, or the path of `name` inside it (parent folders are created). */
  inputDir(name?: string): string;
  /** The outputs folder, or the path of `name` inside it (parent folders are created). */
  outputDir(name?: string): string;
  readonly progress: Progress;
  /** Writes one line to the job's log (also visible to the daemon's operators). */
  log(...args: unknown[]): void;
}

/** Optional declaration read before queueing: `export const schedule: Schedule = { queue: "gpu" }`. */
export interface Schedule {
  queue?: string;
  timeLimit?: number;
  priority?: number;
}

/** The shape of an entrypoint: `export async function main(ctx: Ctx, params: P): Promise<R>`. */
export type Entrypoint<P = unknown, R = unknown> = (ctx: Ctx, params: P) => R | Promise<R>;
