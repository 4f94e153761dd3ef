// One warm child per slot: the TS harness already started (runtime up, harness parsed), waiting
// on stdin for a JobSpec. Taking it skips the spawn and start-up a cold child pays, which is most
// of a small job's cost. By default each child runs exactly one job, in its own process group, and
// exits: the next one is started as soon as this one is taken, while the job runs.
//
// JOBS_PER_CHILD > 1 is an opt-in that trades isolation for speed, as Celery's prefork pool does:
// a harness whose job ended cleanly (its outcome reported, its output ended with the spec's mark,
// nothing of it left in its process group, no kill) goes back to its slot for the next job, up to
// that many jobs. Anything else retires it, and a new one is started as without the opt-in.
// Python jobs are forked by the fork server instead (fork-server.ts): the harness here is the TS one.
import { randomBytes } from "node:crypto";
import type { Subprocess } from "bun";
import { type JobProcess, type ProcessEnd, processEnd, readChannel, stdinInput } from "./job-process.ts";
import { asJobUser } from "./job-user.ts";
import { killGroup } from "./kill.ts";
import { newSink, type OutputSink, pump } from "./output-pump.ts";
import type { Runtime } from "./runtime.ts";

/** What an attempt on a harness that stays needs: the mark its output ends with, and the way back. */
export interface Reuse {
  /** Written by the harness at the end of the job's stdout and stderr (a random token). */
  mark: string;
  /** The job ended cleanly: the harness waits in its slot for the next one. */
  giveBack(): void;
  /** The harness was stopped (or died): the slot gets a new one. */
  lost(): void;
}

export interface WarmChild {
  proc: Subprocess<"pipe", "pipe", "pipe">;
  pgid: number;
  /** stdout's and stderr's: the job log's fd once the child is given a job, nothing before. */
  sinks: [OutputSink, OutputSink];
  /** Ends when stdout and stderr are closed (the child and everything it started are gone). */
  output: Promise<void>;
  /** Its channel (fd 3), read once for all its jobs: each attempt points `onChunk` at its reader. */
  channel: { onChunk: ((chunk: Uint8Array) => void) | null; ended: Promise<void> };
  exited: Promise<ProcessEnd>;
  /** Jobs it was given so far. */
  jobs: number;
  /** Set when it was taken for a job after which it stays (JOBS_PER_CHILD > 1); null: it exits. */
  reuse: Reuse | null;
}

/** The warm child as the runner's JobProcess for the attempt that took it. */
export function warmJob(child: WarmChild, onChunk: (chunk: Uint8Array) => void): JobProcess {
  child.channel.onChunk = onChunk;
  return {
    pid: child.pgid,
    exited: child.exited,
    channel: child.channel.ended,
    output: child.output,
    ...stdinInput(child.proc.stdin),
  };
}

export class WarmPool {
  private readonly idle = new Map<string, WarmChild>();
  /** Harnesses out on a job after which they come back, by slot: their slot needs no new one. */
  private readonly lent = new Map<string, WarmChild>();
  private closed = false;
  /** When a warm child was last taken or started: the pool retires them after `idleMs` without work. */
  private lastActivity = 0;
  private retireTimer: ReturnType<typeof setInterval> | null = null;

  /**
   * @param env the environment of every warm child (pass-through set, runtime, node marker).
   * @param idleMs WARM_IDLE: warm children exist only while work flows; after this long without a
   *   job they are stopped, so an idle daemon costs its own memory only. 0: kept for good.
   * @param jobsPerChild JOBS_PER_CHILD: how many jobs one harness may run (1: one, the default).
   */
  constructor(
    private readonly runtime: Runtime,
    private readonly env: Record<string, string>,
    private readonly idleMs = 0,
    private readonly jobsPerChild = 1,
  ) {
    if (idleMs > 0) {
      this.retireTimer = setInterval(() => this.retireIfIdle(), Math.min(idleMs, 5000));
      this.retireTimer.unref();
    }
  }

  private retireIfIdle(): void {
    if (this.idle.size === 0 || Date.now() - this.lastActivity < this.idleMs) return;
    this.stopAll();
  }

  /** Kills every idle warm child; its channel's reader closes the fd once the pipe ends. */
  private stopAll(): void {
    for (const child of this.idle.values()) killGroup(child.pgid);
    this.idle.clear();
  }

  get size(): number {
    return this.idle.size;
  }

  /** Starts a warm child for the slot unless it has a live one or one comes back; `slotEnv` pins its GPU. */
  fill(slotId: string, slotEnv: Record<string, string>): void {
    // A sandbox is made for one job folder: a child started before its job cannot have one.
    if (this.closed || this.runtime.sandbox || this.lent.has(slotId)) return;
    this.lastActivity = Date.now();
    const current = this.idle.get(slotId);
    if (current && current.proc.exitCode === null && current.proc.signalCode === null) return;
    try {
      this.idle.set(slotId, this.start(slotEnv));
    } catch {
      // Cannot start one now: jobs on this slot start cold, as without a pool.
      this.idle.delete(slotId);
    }
  }

  private start(slotEnv: Record<string, string>): WarmChild {
    const launch = asJobUser(this.runtime.jobUser, [...this.runtime.command, this.runtime.harnessPath], {
      ...this.env,
      ...this.runtime.env,
      ...slotEnv,
    });
    const proc = Bun.spawn(launch.argv, {
      cwd: this.runtime.builtinProcessDir,
      env: launch.env,
      stdio: ["pipe", "pipe", "pipe", "pipe"],
      detached: true,
    });
    const sinks: [OutputSink, OutputSink] = [newSink(), newSink()];
    const output = Promise.all([pump(proc.stdout, sinks[0]), pump(proc.stderr, sinks[1])]).then(() => {});
    const channel: WarmChild["channel"] = { onChunk: null, ended: Promise.resolve() };
    channel.ended = readChannel(proc.stdio[3] as number, (chunk) => channel.onChunk?.(chunk));
    return { proc, pgid: proc.pid, sinks, output, channel, exited: processEnd(proc), jobs: 0, reuse: null };
  }

  /** The slot's warm child, if it is alive; it is no longer the pool's (unless it comes back). */
  take(slotId: string, slotEnv: Record<string, string>): WarmChild | null {
    this.lastActivity = Date.now();
    const child = this.idle.get(slotId);
    this.idle.delete(slotId);
    if (!child || child.proc.exitCode !== null || child.proc.signalCode !== null) return null;
    child.jobs++;
    child.reuse = child.jobs < this.jobsPerChild ? this.lend(slotId, child, slotEnv) : null;
    return child;
  }

  private lend(slotId: string, child: WarmChild, slotEnv: Record<string, string>): Reuse {
    this.lent.set(slotId, child);
    return {
      // A control byte first, so ordinary output never looks like the start of a mark.
      mark: `\x1e${randomBytes(16).toString("hex")}\x1e`,
      giveBack: () => {
        this.lent.delete(slotId);
        child.reuse = null;
        if (this.closed) killGroup(child.pgid);
        else this.idle.set(slotId, child);
      },
      lost: () => {
        this.lent.delete(slotId);
        child.reuse = null;
        this.fill(slotId, slotEnv);
      },
    };
  }

  /** Stops every idle warm child (daemon shutdown); a lent one is stopped when it comes back. */
  close(): void {
    this.closed = true;
    if (this.retireTimer) clearInterval(this.retireTimer);
    this.stopAll();
  }
}
