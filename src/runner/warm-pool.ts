// One warm child per slot: the TS harness already started (runtime up, harness parsed), waiting
// on stdin for a JobSpec. Taking it skips the spawn and start-up a cold child pays, which is most
// of a small job's cost. Each child still runs exactly one job, in its own process group, and
// exits: the next one is started as soon as this one is taken, while the job runs.
// Python jobs are forked by the fork server instead (fork-server.ts): the harness here is the TS one.
import { closeSync, writeSync } from "node:fs";
import type { Subprocess } from "bun";
import { asJobUser } from "./job-user.ts";
import { killGroup } from "./kill.ts";
import type { Runtime } from "./runtime.ts";

export interface WarmChild {
  proc: Subprocess<"pipe", "pipe", "pipe">;
  pgid: number;
  /** Where stdout and stderr go: the job log's fd once the child is given a job, nothing before. */
  sink: { fd: number | null };
  /** Ends when stdout and stderr are closed (the child and everything it started are gone). */
  output: Promise<void>;
}

/**
 * Copies a child's output pipe to the current sink, chunk by chunk, until it closes. A chunk the
 * log cannot take (a full disk) is dropped and the pipe still drained: stopping would block the
 * job on a full pipe, and a rejection here has no handler until the job ends.
 */
export async function pump(stream: ReadableStream<Uint8Array>, sink: { fd: number | null }): Promise<void> {
  for await (const chunk of stream) {
    if (sink.fd === null) continue;
    try {
      writeSync(sink.fd, chunk);
    } catch {
      // lost like the notes the runner cannot write; the job goes on
    }
  }
}

export class WarmPool {
  private readonly idle = new Map<string, WarmChild>();
  private closed = false;
  /** When a warm child was last taken or started: the pool retires them after `idleMs` without work. */
  private lastActivity = 0;
  private retireTimer: ReturnType<typeof setInterval> | null = null;

  /**
   * @param env the environment of every warm child (pass-through set, runtime, node marker).
   * @param idleMs WARM_IDLE: warm children exist only while work flows; after this long without a
   *   job they are stopped, so an idle daemon costs its own memory only. 0: kept for good.
   */
  constructor(
    private readonly runtime: Runtime,
    private readonly env: Record<string, string>,
    private readonly idleMs = 0,
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

  /** Kills every idle warm child and gives back its pipes (the channel fd is ours to close). */
  private stopAll(): void {
    for (const child of this.idle.values()) {
      killGroup(child.pgid);
      void child.proc.exited.then(() => {
        try {
          closeSync(child.proc.stdio[3] as number);
        } catch {
          // already closed
        }
      });
    }
    this.idle.clear();
  }

  get size(): number {
    return this.idle.size;
  }

  /** Starts a warm child for the slot unless it has a live one; `slotEnv` pins its GPU. */
  fill(slotId: string, slotEnv: Record<string, string>): void {
    // A sandbox is made for one job folder: a child started before its job cannot have one.
    if (this.closed || this.runtime.sandbox) return;
    this.lastActivity = Date.now();
    const current = this.idle.get(slotId);
    if (current && current.proc.exitCode === null && current.proc.signalCode === null) return;
    try {
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
      const sink = { fd: null as number | null };
      const output = Promise.all([pump(proc.stdout, sink), pump(proc.stderr, sink)]).then(() => {});
      this.idle.set(slotId, { proc, pgid: proc.pid, sink, output });
    } catch {
      // Cannot start one now: jobs on this slot start cold, as without a pool.
      this.idle.delete(slotId);
    }
  }

  /** The slot's warm child, if it is alive; it is no longer the pool's. */
  take(slotId: string): WarmChild | null {
    this.lastActivity = Date.now();
    const child = this.idle.get(slotId);
    this.idle.delete(slotId);
    if (!child || child.proc.exitCode !== null || child.proc.signalCode !== null) return null;
    return child;
  }

  /** Stops every idle warm child (daemon shutdown). */
  close(): void {
    this.closed = true;
    if (this.retireTimer) clearInterval(this.retireTimer);
    this.stopAll();
  }
}
