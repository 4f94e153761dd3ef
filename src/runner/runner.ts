// Runs one attempt as a child process: spawn in its own process group, hand it the JobSpec on
// stdin, read its messages on fd 3, send stdout/stderr to the job log, enforce the time limit by
// killing the whole tree, and classify how it ended. Decides nothing about retries.
import { closeSync, openSync, writeSync } from "node:fs";
import type { ChildMessage, JobSpec } from "../sdk/protocol.ts";
import { killGroup } from "./kill.ts";
import type { Runtime } from "./runtime.ts";

export type ExitCause =
  | "success"
  | "exception"
  | "exit"
  | "signal"
  | "timeout"
  | "memory"
  | "revoked"
  | "spawn";

export interface RunResult {
  cause: ExitCause;
  exitCode: number | null;
  signal: string | null;
  peakRssKb: number | null;
  result?: unknown;
  /** The script's own error (cause "exception") or what the runner saw. */
  error?: string;
  durationMs: number;
}

export interface RunRequest {
  spec: JobSpec;
  cwd: string;
  logFile: string;
  timeLimitS: number;
  /** Extra environment for the child (GPU pinning, ...), on top of the pass-through set. */
  env?: Record<string, string>;
  onMessage: (message: ChildMessage) => void;
}

export interface RunningChild {
  pgid: number;
  /** Kills the whole tree; the attempt ends with `cause`. Safe to call more than once. */
  kill(cause: "revoked" | "timeout" | "memory"): void;
  done: Promise<RunResult>;
}

/** Variables a job inherits from the daemon; the rest (tokens, daemon settings) stays out. */
const PASS_ENV = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME", "SHELL"];

function childEnv(
  runtime: Runtime,
  spec: JobSpec,
  extra: Record<string, string> = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of PASS_ENV) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return { ...env, ...runtime.env, PIXYZ_JOB_ID: spec.jobId, PIXYZ_QUEUE: spec.queue, ...extra };
}

/** Reads JSON lines from the child's fd 3 until EOF; a malformed line is logged, not fatal. */
async function readChannel(
  fd: number,
  onMessage: (m: ChildMessage) => void,
  onBadLine: (line: string) => void,
) {
  const decoder = new TextDecoder();
  let buffer = "";
  const handle = (line: string) => {
    if (line.trim() === "") return;
    try {
      onMessage(JSON.parse(line) as ChildMessage);
    } catch {
      onBadLine(line);
    }
  };
  for await (const chunk of Bun.file(fd).stream()) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline = buffer.indexOf("\n");
    while (newline >= 0) {
      handle(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf("\n");
    }
  }
  handle(buffer);
}

export function runAttempt(runtime: Runtime, request: RunRequest): RunningChild {
  const started = performance.now();
  const logFd = openSync(request.logFile, "a");
  const note = (text: string) => writeSync(logFd, `[pixyz-scheduler] ${new Date().toISOString()} ${text}\n`);
  note(`attempt ${request.spec.attempt} of job ${request.spec.jobId} on queue ${request.spec.queue}`);

  let proc: ReturnType<typeof Bun.spawn>;
  try {
    proc = Bun.spawn([...runtime.command, runtime.harnessPath], {
      cwd: request.cwd,
      env: childEnv(runtime, request.spec, request.env),
      stdio: ["pipe", logFd, logFd, "pipe"],
      detached: true,
    });
  } catch (error) {
    note(`cannot start the job: ${(error as Error).message}`);
    closeSync(logFd);
    const result: RunResult = {
      cause: "spawn",
      exitCode: null,
      signal: null,
      peakRssKb: null,
      error: `The job could not be started: ${(error as Error).message}`,
      durationMs: 0,
    };
    return { pgid: 0, kill: () => {}, done: Promise.resolve(result) };
  }

  const pgid = proc.pid;
  let killedFor: "revoked" | "timeout" | "memory" | null = null;
  const kill = (cause: "revoked" | "timeout" | "memory") => {
    if (killedFor === null) killedFor = cause;
    killGroup(pgid);
  };
  const timer = setTimeout(() => kill("timeout"), request.timeLimitS * 1000);

  let result: { value: unknown } | null = null;
  let scriptError: Extract<ChildMessage, { t: "error" }> | null = null;
  const channel = readChannel(
    proc.stdio[3] as number,
    (message) => {
      if (message.t === "result") result = { value: message.value };
      else if (message.t === "error") scriptError = message;
      else request.onMessage(message);
    },
    (line) => note(`ignored a malformed channel line: ${line.slice(0, 200)}`),
  );

  const stdin = proc.stdin as import("bun").FileSink;
  stdin.write(`${JSON.stringify(request.spec)}\n`);
  stdin.end();

  const done = (async (): Promise<RunResult> => {
    const exitCode = await proc.exited;
    clearTimeout(timer);
    // Whatever the script started and left behind goes with it (invariant 6); this also closes
    // any copy of fd 3 a grandchild held, so the channel below reaches its end.
    killGroup(pgid);
    await channel.catch((error) => note(`channel read failed: ${(error as Error).message}`));
    const signal = proc.signalCode ? String(proc.signalCode) : null;
    const base = {
      exitCode: signal ? null : exitCode,
      signal,
      peakRssKb: null,
      durationMs: performance.now() - started,
    };
    let outcome: RunResult;
    const reported = result as { value: unknown } | null;
    const thrown = scriptError as Extract<ChildMessage, { t: "error" }> | null;
    if (killedFor === "timeout") {
      outcome = {
        ...base,
        cause: "timeout",
        error: `Time limit exceeded: the job ran longer than ${request.timeLimitS} s and was killed`,
      };
    } else if (killedFor === "memory") {
      outcome = { ...base, cause: "memory", error: "Memory limit exceeded: the job was killed" };
    } else if (killedFor === "revoked") {
      outcome = { ...base, cause: "revoked", error: "The job was cancelled" };
    } else if (thrown) {
      outcome = { ...base, cause: "exception", error: thrown.stack || `${thrown.name}: ${thrown.message}` };
    } else if (reported && exitCode === 0) {
      outcome = { ...base, cause: "success", result: reported.value };
    } else if (signal) {
      outcome = {
        ...base,
        cause: "signal",
        error: `The job's process was killed by ${signal} (see the job log)`,
      };
    } else {
      outcome = {
        ...base,
        cause: "exit",
        error: `The job's process exited with code ${exitCode} without reporting a result (see the job log)`,
      };
    }
    note(
      `attempt ${request.spec.attempt} ended: ${outcome.cause}${outcome.error ? ` (${outcome.error.split("\n")[0]})` : ""}`,
    );
    closeSync(logFd);
    return outcome;
  })();

  return { pgid, kill, done };
}
