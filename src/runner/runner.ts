// Runs one attempt as a child process: spawn in its own process group, hand it the JobSpec on
// stdin, read its messages on fd 3, send stdout/stderr to the job log, enforce the time limit by
// killing the whole tree, and classify how it ended. Decides nothing about retries.
import { closeSync, fstatSync, openSync, writeSync } from "node:fs";
import { errorHeadline } from "../jobs/error-headline.ts";
import type { ExitCause } from "../jobs/policy.ts";
import type { ChildMessage, JobSpec, Reply } from "../sdk/protocol.ts";
import { closeJobFolder, openJobFolder } from "../storage/job-access.ts";
import { classifyExit, type KillCause } from "./classify.ts";
import { asJobUser } from "./job-user.ts";
import { killGroup } from "./kill.ts";
import type { MemoryWatch } from "./memory-watch.ts";
import type { Runtime } from "./runtime.ts";
import { sandboxed } from "./sandbox.ts";
import type { WarmChild } from "./warm-pool.ts";

// The cause type is the policy's (one definition); the runner only reports it.
export type { ExitCause } from "../jobs/policy.ts";

/** How often the log size is checked against its cap. */
const LOG_CHECK_MS = 1000;
/** After SIGTERM (cancel, time limit) a job has this long to stop before SIGKILL. */
const KILL_GRACE_MS = 2000;
/**
 * After the job's process group is gone, how long its channel and output pipes may take to close.
 * Only a process that left the group (setsid) and kept a copy open makes them wait: past this, the
 * attempt ends anyway and whatever that process writes later is dropped.
 */
const DRAIN_MS = 1000;

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
  /** The job log's cap in bytes (all attempts together); the job is stopped past it. */
  logMaxBytes: number;
  /** Measures the job's process tree; kills it when it goes over `limitKb` (0: measure only). */
  memory?: { watch: MemoryWatch; limitKb: number };
  /** A started harness to give the job to (TS/JS only), instead of spawning one. */
  warm?: WarmChild | null;
  onMessage: (message: ChildMessage) => void;
}

export interface RunningChild {
  pgid: number;
  /**
   * Kills the whole tree; the attempt ends with `cause`. Cancel and time limit send SIGTERM first
   * (ctx.signal fires) and SIGKILL after a grace period; memory and log overruns and a stop whose
   * grace ran out SIGKILL at once.
   */
  kill(cause: KillCause): void;
  /** Answers one of the child's requests (spawn, wait) on its stdin. */
  reply(reply: Reply): void;
  done: Promise<RunResult>;
}

/** Variables a job inherits from the daemon; the rest (tokens, daemon settings) stays out. */
const PASS_ENV = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME", "SHELL"];

/** The daemon's variables a job may see (warm children start with these too). */
export function passThroughEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of PASS_ENV) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

function childEnv(
  runtimeEnv: Record<string, string>,
  spec: JobSpec,
  extra: Record<string, string> = {},
): Record<string, string> {
  return { ...passThroughEnv(), ...runtimeEnv, PIXYZ_JOB_ID: spec.jobId, PIXYZ_QUEUE: spec.queue, ...extra };
}

export function isPythonScript(path: string): boolean {
  return path.toLowerCase().endsWith(".py");
}

/** argv and runtime environment for the job's script: Bun for TS/JS, the resolved Python for .py. */
function commandFor(
  runtime: Runtime,
  script: string,
): { argv: string[]; env: Record<string, string> } | { error: string } {
  if (!isPythonScript(script)) return { argv: [...runtime.command, runtime.harnessPath], env: runtime.env };
  const { interpreter, path, harnessPath } = runtime.python;
  if (!interpreter?.path) return { error: interpreter?.error ?? "Python was not resolved at start" };
  // The compatibility package first; then the daemon's own PYTHONPATH (an operator's pxz, ...).
  const pythonPath = [path, process.env.PYTHONPATH].filter((p) => p).join(":");
  return {
    argv: [interpreter.path, "-u", harnessPath],
    env: { PYTHONPATH: pythonPath, PYTHONIOENCODING: "utf-8" },
  };
}

/**
 * The longest channel line the daemon keeps (a result, a child's params). A longer one is dropped as
 * it arrives: buffering it would let a job grow the daemon's memory without bound.
 */
export const MAX_CHANNEL_LINE = 64 * 1024 * 1024;

/** Reads JSON lines from the child's fd 3 until EOF; a malformed or oversized line is logged, not fatal. */
async function readChannel(
  fd: number,
  onMessage: (m: ChildMessage) => void,
  onBadLine: (line: string) => void,
) {
  const decoder = new TextDecoder();
  // The current line's bytes: only each new chunk is searched for a newline (never the whole
  // line again), so a long line costs linear time.
  let pieces: Uint8Array[] = [];
  let length = 0;
  let dropping = false;
  const handle = (line: string) => {
    if (line.trim() === "") return;
    try {
      onMessage(JSON.parse(line) as ChildMessage);
    } catch {
      onBadLine(line);
    }
  };
  const take = (bytes: Uint8Array) => {
    if (dropping || bytes.length === 0) return;
    length += bytes.length;
    if (length > MAX_CHANNEL_LINE) {
      dropping = true;
      pieces = [];
    } else pieces.push(bytes.slice());
  };
  const endLine = () => {
    if (dropping) onBadLine(`(a line longer than ${MAX_CHANNEL_LINE} bytes, dropped)`);
    else if (length > 0) handle(decoder.decode(Buffer.concat(pieces)));
    pieces = [];
    length = 0;
    dropping = false;
  };
  for await (const chunk of Bun.file(fd).stream()) {
    let start = 0;
    for (let newline = chunk.indexOf(10); newline >= 0; newline = chunk.indexOf(10, start)) {
      take(chunk.subarray(start, newline));
      endLine();
      start = newline + 1;
    }
    take(chunk.subarray(start));
  }
  endLine();
}

/** An attempt that ended before it could start (no process): `error` says why. */
function notStarted(cause: "exception" | "spawn", error: string): RunningChild {
  const result: RunResult = { cause, exitCode: null, signal: null, peakRssKb: null, error, durationMs: 0 };
  return { pgid: 0, kill: () => {}, reply: () => {}, done: Promise.resolve(result) };
}

export function runAttempt(runtime: Runtime, request: RunRequest): RunningChild {
  const started = performance.now();
  let logFd: number;
  try {
    logFd = openSync(request.logFile, "a");
  } catch (error) {
    // The job's folder is gone (removed by hand, or a disk problem): the attempt cannot start.
    return notStarted("spawn", `The job's log cannot be opened: ${(error as Error).message}`);
  }
  // Best effort: a log the disk cannot take (ENOSPC) loses the note, not the attempt. A throw here
  // would leave the job STARTED and its slot held for good.
  const note = (text: string) => {
    try {
      writeSync(logFd, `[pixyz-scheduler] ${new Date().toISOString()} ${text}\n`);
    } catch {
      // nothing else to tell it to: the attempt's outcome still reaches the store
    }
  };
  note(`attempt ${request.spec.attempt} of job ${request.spec.jobId} on queue ${request.spec.queue}`);

  const command = commandFor(runtime, request.spec.script);
  if ("error" in command) {
    // Retrying cannot help (the interpreter is resolved once, at start): the script's own failure.
    note(`cannot start the job: ${command.error}`);
    closeSync(logFd);
    return notStarted("exception", command.error);
  }
  if (runtime.jobUser) {
    try {
      openJobFolder(request.cwd, runtime.jobUser);
    } catch (error) {
      note(`cannot open the job's folder to ${runtime.jobUser.name}: ${(error as Error).message}`);
      closeSync(logFd);
      if (request.warm) killGroup(request.warm.pgid);
      return notStarted("spawn", `The job's folder could not be prepared: ${(error as Error).message}`);
    }
  }
  let proc: ReturnType<typeof Bun.spawn>;
  // A warm child's output reaches the log through the daemon (pipes); a cold one writes the file.
  let output: Promise<void> | null = null;
  if (request.warm && !isPythonScript(request.spec.script)) {
    proc = request.warm.proc;
    request.warm.sink.fd = logFd;
    output = request.warm.output;
  } else {
    try {
      const launch = asJobUser(
        runtime.jobUser,
        sandboxed(runtime.sandbox, request.cwd, command.argv),
        childEnv(command.env, request.spec, request.env),
      );
      proc = Bun.spawn(launch.argv, {
        cwd: request.cwd,
        env: launch.env,
        stdio: ["pipe", logFd, logFd, "pipe"],
        detached: true,
      });
    } catch (error) {
      note(`cannot start the job: ${(error as Error).message}`);
      if (runtime.jobUser) closeJobFolder(request.cwd);
      closeSync(logFd);
      return notStarted("spawn", `The job could not be started: ${(error as Error).message}`);
    }
  }

  const pgid = proc.pid;
  let killedFor: KillCause | null = null;
  let exited = false;
  const kill = (cause: KillCause) => {
    if (killedFor === null) killedFor = cause;
    if (cause === "memory" || cause === "log" || cause === "stop") {
      killGroup(pgid);
      return;
    }
    killGroup(pgid, "SIGTERM");
    setTimeout(() => {
      if (!exited) killGroup(pgid);
    }, KILL_GRACE_MS).unref();
  };
  const timer = setTimeout(() => kill("timeout"), request.timeLimitS * 1000);
  // stdout/stderr go straight to the file (no pipe to drain), so its size is the measure.
  const logCheck = setInterval(() => {
    if (fstatSync(logFd).size > request.logMaxBytes) kill("log");
  }, LOG_CHECK_MS);
  let overLimitKb = 0;
  request.memory?.watch.watch(pgid, request.memory.limitKb, (rssKb) => {
    overLimitKb = rssKb;
    kill("memory");
  });

  let drained = false;
  let result: { value: unknown } | null = null;
  let scriptError: Extract<ChildMessage, { t: "error" }> | null = null;
  const channelFd = proc.stdio[3] as number;
  const channel = readChannel(
    channelFd,
    (message) => {
      if (drained) return; // the attempt is over: a straggler's late line changes nothing
      if (message.t === "result") result = { value: message.value };
      else if (message.t === "error") scriptError = message;
      else request.onMessage(message);
    },
    (line) => note(`ignored a malformed channel line: ${line.slice(0, 200)}`),
  ).finally(() => {
    // Bun hands the pipe over as a bare fd and never closes it: one fd per attempt would leak.
    // Closed only once the read has ended, so a later open can never reuse the number under it.
    try {
      closeSync(channelFd);
    } catch {
      // already closed
    }
  });

  const stdin = proc.stdin as import("bun").FileSink;
  stdin.write(`${JSON.stringify(request.spec)}\n`);
  stdin.flush();
  const reply = (answer: Reply) => {
    if (exited) return;
    try {
      stdin.write(`${JSON.stringify(answer)}\n`);
      stdin.flush();
    } catch (error) {
      note(`could not answer the job's request ${answer.req}: ${(error as Error).message}`);
    }
  };

  const done = (async (): Promise<RunResult> => {
    const exitCode = await proc.exited;
    exited = true;
    try {
      stdin.end();
    } catch {
      // the pipe is already closed: nothing to end
    }
    clearTimeout(timer);
    clearInterval(logCheck);
    const peakRssKb = request.memory?.watch.unwatch(pgid) ?? null;
    // Whatever the script started and left behind goes with it (invariant 6); this also closes
    // any copy of fd 3 a grandchild held, so the channel below reaches its end.
    killGroup(pgid);
    // Nothing of the job runs now (bar a process that left its group): its folder closes again.
    if (runtime.jobUser) closeJobFolder(request.cwd);
    const pipes = Promise.all([
      channel.catch((error) => note(`channel read failed: ${(error as Error).message}`)),
      output?.catch((error) => note(`output copy failed: ${(error as Error).message}`)),
    ]);
    const timedOut = await Promise.race([pipes.then(() => false), Bun.sleep(DRAIN_MS).then(() => true)]);
    drained = true;
    if (timedOut)
      note("a process that left the job's process group still holds its output: it is ignored from now on");
    // From here the log's fd is closed: the warm child's output copy must not write to it.
    if (request.warm) request.warm.sink.fd = null;
    const signal = proc.signalCode ? String(proc.signalCode) : null;
    const base = {
      exitCode: signal ? null : exitCode,
      signal,
      peakRssKb,
      durationMs: performance.now() - started,
    };
    const outcome: RunResult = {
      ...base,
      ...classifyExit({
        killedFor,
        thrown: scriptError,
        reported: result,
        exitCode,
        signal,
        timeLimitS: request.timeLimitS,
        memory: { usedKb: overLimitKb, limitKb: request.memory?.limitKb },
        logMaxBytes: request.logMaxBytes,
      }),
    };
    note(
      `attempt ${request.spec.attempt} ended: ${outcome.cause}${outcome.error ? ` (${errorHeadline(outcome.error)})` : ""}`,
    );
    closeSync(logFd);
    return outcome;
  })();

  return { pgid, kill, reply, done };
}
