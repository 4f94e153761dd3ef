// Runs one attempt as a child process in its own process group (spawned cold, a warm TS harness, or
// forked by the Python fork server: a JobProcess either way): hand it the JobSpec on its input, read
// its messages on its channel, send stdout/stderr to the job log, enforce the time limit by killing
// the whole tree, and classify how it ended. Decides nothing about retries.
import { closeSync, fstatSync, openSync, writeSync } from "node:fs";
import { errorHeadline } from "../jobs/error-headline.ts";
import type { ExitCause } from "../jobs/policy.ts";
import type { ChildMessage, JobSpec, Reply } from "../sdk/protocol.ts";
import { closeJobFolder, openJobFolder } from "../storage/job-access.ts";
import { ChannelLines } from "./channel-lines.ts";
import { classifyExit, type KillCause } from "./classify.ts";
import type { ForkServer } from "./fork-server.ts";
import { type JobProcess, type ProcessEnd, subprocessJob } from "./job-process.ts";
import { asJobUser } from "./job-user.ts";
import { killGroup } from "./kill.ts";
import type { MemoryWatch } from "./memory-watch.ts";
import { othersInGroup } from "./process-tree.ts";
import { pythonJobEnv } from "./python.ts";
import type { Runtime } from "./runtime.ts";
import { sandboxed } from "./sandbox.ts";
import { type WarmChild, warmJob } from "./warm-pool.ts";

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
  /** The job's process group (its process's pid) once the process runs; 0 when it never started. */
  pgid: Promise<number>;
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
  return { argv: [interpreter.path, "-u", harnessPath], env: pythonJobEnv(path) };
}

/** An attempt that ended before it could start (no process): `error` says why. */
function notStarted(cause: "exception" | "spawn", error: string): RunningChild {
  const result: RunResult = { cause, exitCode: null, signal: null, peakRssKb: null, error, durationMs: 0 };
  return { pgid: Promise.resolve(0), kill: () => {}, reply: () => {}, done: Promise.resolve(result) };
}

/**
 * Runs the attempt. `forkServer`: where Python jobs are forked from a warm interpreter (the daemon
 * with WARM_CHILDREN, no JOB_USER, no sandbox); when it cannot fork one, the job starts cold.
 */
export function runAttempt(
  runtime: Runtime,
  request: RunRequest,
  forkServer: ForkServer | null = null,
): RunningChild {
  const started = performance.now();
  /** A warm child taken for an attempt that cannot start: stopped, and its slot gets a new one. */
  const dropWarm = () => {
    if (!request.warm) return;
    killGroup(request.warm.pgid);
    request.warm.reuse?.lost();
  };
  let logFd: number;
  try {
    logFd = openSync(request.logFile, "a");
  } catch (error) {
    // The job's folder is gone (removed by hand, or a disk problem): the attempt cannot start.
    dropWarm();
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
      dropWarm();
      return notStarted("spawn", `The job's folder could not be prepared: ${(error as Error).message}`);
    }
  }

  let drained = false;
  let result: { value: unknown } | null = null;
  let scriptError: Extract<ChildMessage, { t: "error" }> | null = null;
  // A harness that stays after this job (JOBS_PER_CHILD > 1): its job has ended once its outcome
  // is reported and its stdout and stderr both passed the mark, and the process goes on.
  const reuse = request.warm && !isPythonScript(request.spec.script) ? request.warm.reuse : null;
  const released = Promise.withResolvers<"released">();
  const pending = new Set(reuse ? ["outcome", "stdout", "stderr"] : []);
  let marksDue: ReturnType<typeof setTimeout> | undefined;
  const arrived = (what: string) => {
    if (pending.delete(what) && pending.size === 0) released.resolve("released");
  };
  const lines = new ChannelLines(
    (message) => {
      if (drained) return; // the attempt is over: a straggler's late line changes nothing
      if (message.t === "result") result = { value: message.value };
      else if (message.t === "error") scriptError = message;
      else request.onMessage(message);
      if (reuse && (message.t === "result" || message.t === "error")) {
        arrived("outcome");
        marksDue ??= setTimeout(() => released.resolve("released"), DRAIN_MS);
      }
    },
    (line) => note(`ignored a malformed channel line: ${line.slice(0, 200)}`),
  );
  // Once the attempt is over, a straggler's bytes are dropped unread (the log is closed by then).
  const onChunk = (chunk: Uint8Array) => {
    if (!drained) lines.push(chunk);
  };

  /** The job's process: the warm TS harness, a child of the fork server, or a cold spawn. */
  const launch = async (): Promise<JobProcess> => {
    const python = isPythonScript(request.spec.script);
    // A warm child's output reaches the log through the daemon (pipes); the others write the file.
    if (request.warm && !python) {
      const [stdout, stderr] = request.warm.sinks;
      for (const sink of [stdout, stderr]) sink.fd = logFd;
      if (reuse) {
        const mark = new TextEncoder().encode(reuse.mark);
        stdout.mark = mark;
        stdout.onMark = () => arrived("stdout");
        stderr.mark = mark;
        stderr.onMark = () => arrived("stderr");
      }
      return warmJob(request.warm, onChunk);
    }
    const env = childEnv(command.env, request.spec, request.env);
    // JOB_USER and JOB_SANDBOX jobs are started through setpriv/bwrap: never forked.
    if (python && forkServer && !runtime.jobUser && !runtime.sandbox) {
      try {
        return await forkServer.fork({ cwd: request.cwd, logFile: request.logFile, env }, onChunk);
      } catch (error) {
        note(`the Python fork server could not start the job (${(error as Error).message}): it starts cold`);
      }
    }
    const launch = asJobUser(runtime.jobUser, sandboxed(runtime.sandbox, request.cwd, command.argv), env);
    const proc = Bun.spawn(launch.argv, {
      cwd: request.cwd,
      env: launch.env,
      stdio: ["pipe", logFd, logFd, "pipe"],
      detached: true,
    });
    return subprocessJob(proc, onChunk);
  };

  let job: JobProcess | null = null;
  let killedFor: KillCause | null = null;
  let exited = false;
  const signalTree = (pgid: number, cause: KillCause) => {
    if (cause === "memory" || cause === "log" || cause === "stop") {
      killGroup(pgid);
      return;
    }
    killGroup(pgid, "SIGTERM");
    setTimeout(() => {
      if (!exited) killGroup(pgid);
    }, KILL_GRACE_MS).unref();
  };
  // Before the process runs (a fork on its way), the cause is kept and acted on once it does.
  // Once the attempt is over nothing is killed: a harness that stays runs the next job by then.
  const kill = (cause: KillCause) => {
    if (exited) return;
    if (killedFor === null) killedFor = cause;
    if (job) signalTree(job.pid, cause);
  };
  const timer = setTimeout(() => kill("timeout"), request.timeLimitS * 1000);
  // stdout/stderr go straight to the file (no pipe to drain), so its size is the measure.
  const logCheck = setInterval(() => {
    if (fstatSync(logFd).size > request.logMaxBytes) kill("log");
  }, LOG_CHECK_MS);
  let overLimitKb = 0;

  const running = launch().then((proc) => {
    job = proc;
    request.memory?.watch.watch(proc.pid, request.memory.limitKb, (rssKb) => {
      overLimitKb = rssKb;
      kill("memory");
    });
    if (killedFor) signalTree(proc.pid, killedFor);
    try {
      const spec = reuse ? { ...request.spec, release: reuse.mark } : request.spec;
      proc.write(`${JSON.stringify(spec)}\n`);
    } catch (error) {
      // It died at once: its exit tells the rest.
      note(`could not hand the job its spec: ${(error as Error).message}`);
    }
    return proc;
  });

  const reply = (answer: Reply) => {
    if (exited || !job) return;
    try {
      job.write(`${JSON.stringify(answer)}\n`);
    } catch (error) {
      note(`could not answer the job's request ${answer.req}: ${(error as Error).message}`);
    }
  };

  /**
   * How the job's process ended, and whether it stays for another job: only a harness lent with
   * `reuse` whose outcome and output marks all came, that was never told to stop, and whose group
   * holds nothing else. One whose outcome came but whose marks did not (a script that closed its
   * stdout) is stopped DRAIN_MS later; its job still ends as the outcome says.
   */
  const endOf = async (proc: JobProcess): Promise<{ end: ProcessEnd; keep: boolean }> => {
    if (!reuse) return { end: await proc.exited, keep: false };
    const first = await Promise.race([proc.exited, released.promise]);
    if (first !== "released") return { end: first, keep: false };
    const end = { exitCode: scriptError ? 1 : 0, signal: null };
    const keep = pending.size === 0 && killedFor === null && othersInGroup(proc.pid).length === 0;
    return { end, keep };
  };

  const done = (async (): Promise<RunResult> => {
    let proc: JobProcess;
    try {
      proc = await running;
    } catch (error) {
      clearTimeout(timer);
      clearInterval(logCheck);
      note(`cannot start the job: ${(error as Error).message}`);
      if (runtime.jobUser) closeJobFolder(request.cwd);
      closeSync(logFd);
      return {
        cause: "spawn",
        exitCode: null,
        signal: null,
        peakRssKb: null,
        error: `The job could not be started: ${(error as Error).message}`,
        durationMs: performance.now() - started,
      };
    }
    const { end, keep } = await endOf(proc);
    exited = true;
    clearTimeout(marksDue);
    clearTimeout(timer);
    clearInterval(logCheck);
    const peakRssKb = request.memory?.watch.unwatch(proc.pid) ?? null;
    if (keep) {
      // The harness stays: its input open, its group alive. Its job's lines and output are all in.
      lines.end();
      drained = true;
      request.warm!.channel.onChunk = null;
      if (runtime.jobUser) closeJobFolder(request.cwd);
    } else {
      proc.end();
      // Whatever the script started and left behind goes with it (invariant 6); this also closes
      // any copy of the channel a grandchild held, so the channel below reaches its end.
      killGroup(proc.pid);
      // Nothing of the job runs now (bar a process that left its group): its folder closes again.
      if (runtime.jobUser) closeJobFolder(request.cwd);
      if (end.note) note(end.note);
      const pipes = Promise.all([
        proc.channel
          .then(() => lines.end())
          .catch((error) => note(`channel read failed: ${(error as Error).message}`)),
        proc.output?.catch((error) => note(`output copy failed: ${(error as Error).message}`)),
      ]);
      const timedOut = await Promise.race([pipes.then(() => false), Bun.sleep(DRAIN_MS).then(() => true)]);
      drained = true;
      if (timedOut)
        note("a process that left the job's process group still holds its output: it is ignored from now on");
    }
    // From here the log's fd is closed: the warm child's output copy must not write to it.
    for (const sink of request.warm?.sinks ?? []) sink.fd = null;
    const { exitCode, signal } = end;
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
    if (keep) reuse!.giveBack();
    else reuse?.lost();
    return outcome;
  })();

  return {
    pgid: running.then(
      (proc) => proc.pid,
      () => 0,
    ),
    kill,
    reply,
    done,
  };
}
