// The parent/child channel. The parent writes one JobSpec line on the child's stdin; the child
// writes ChildMessage JSON lines on fd 3 (a pipe: unlike Bun's ipc option, it loses nothing when
// the child exits right after writing). Python's compat package speaks the same lines.

export interface JobSpec {
  jobId: string;
  attempt: number;
  queue: string;
  retry: number;
  script: string;
  entrypoint: string;
  params: unknown;
  inputFile: string | null;
  inputDir: string;
  outputDir: string;
}

/** `at` is the child's wall clock in ms; durations are differences of two `at` of the same child. */
export type ChildMessage =
  | { t: "total"; n: number }
  | { t: "next"; info: string; at: number }
  | { t: "stop"; at: number }
  | { t: "result"; value: unknown }
  | { t: "error"; name: string; message: string; stack: string };

export const CHANNEL_FD = 3;
