// The in-process scheduler. Event-driven: it looks for work when a job is submitted, when a slot
// frees, and at start; there is no polling loop. The database is the queue (claimNext is one index
// seek), so nothing is lost with the process and nothing needs rebuilding beyond the slots.
import { join } from "node:path";
import { verdictFor } from "../jobs/policy.ts";
import { emptyProgress, nextStep, type ProgressState, percent, setTotal, stop } from "../jobs/progress.ts";
import { JobStatus } from "../jobs/states.ts";
import type { Logger } from "../log/logger.ts";
import { killGroup } from "../runner/kill.ts";
import { type RunningChild, type RunResult, runAttempt } from "../runner/runner.ts";
import type { Runtime } from "../runner/runtime.ts";
import type { ProcessRegistry } from "../scripts/registry.ts";
import type { ChildMessage } from "../sdk/protocol.ts";
import type { JobFolders } from "../storage/job-folders.ts";
import type { JobStore } from "../store/job-store.ts";
import type { AttemptRow, JobRow } from "../store/schema.ts";
import type { Slot } from "./slots.ts";

/** Progress is written at most this often per running job; the final state is written at once. */
const PROGRESS_FLUSH_MS = 100;

interface Running {
  job: JobRow;
  attempt: AttemptRow;
  slot: Slot;
  child: RunningChild | null;
  progress: ProgressState;
  flushTimer: ReturnType<typeof setTimeout> | null;
}

export interface SchedulerDeps {
  store: JobStore;
  folders: JobFolders;
  registry: ProcessRegistry;
  runtime: Runtime;
  logger: Logger;
  slots: Slot[];
  nodeId: string;
}

export class Scheduler {
  private readonly busy = new Map<string, Running>();
  private kickQueued = false;
  private accepting = true;
  /** Set once shutdown kills what outlived its grace: those attempts are interrupted, not failed. */
  private interrupting = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly deps: SchedulerDeps) {}

  get slots(): readonly Slot[] {
    return this.deps.slots;
  }

  /** Which slot runs which job now. */
  runningOn(slotId: string): { uuid: string; attempt: number } | null {
    const running = this.busy.get(slotId);
    return running ? { uuid: running.job.uuid, attempt: running.attempt.number } : null;
  }

  servesQueue(queue: string): boolean {
    return this.deps.slots.some((slot) => slot.queue === queue);
  }

  /** A sentence for a waiting job that no slot here can run; null when some slot serves its queue. */
  waitReason(queue: string): string | null {
    if (this.servesQueue(queue)) return null;
    const served = [...new Set(this.deps.slots.map((s) => s.queue))].join(", ") || "none";
    return `No slot on this node serves queue '${queue}' (queues served here: ${served}); the job waits until one does.`;
  }

  /** Recovers what a previous daemon left running, then starts dispatching. */
  start(): void {
    const { requeued, pgids } = this.deps.store.recoverInterrupted(
      "the daemon stopped while the job ran; it runs again",
    );
    for (const pgid of pgids) killGroup(pgid);
    if (requeued.length > 0)
      this.deps.logger.warn("re-queued jobs interrupted by a restart", { count: requeued.length });
    this.notify();
  }

  /** Asks for a dispatch pass soon; many calls in one tick make one pass. */
  notify(): void {
    if (this.kickQueued || !this.accepting) return;
    this.kickQueued = true;
    queueMicrotask(() => {
      this.kickQueued = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const slot of this.deps.slots) {
      if (!this.accepting) return;
      if (this.busy.has(slot.id)) continue;
      const claimed = this.deps.store.claimNext(slot.queue, slot.id, this.deps.nodeId);
      if (claimed) this.launch(slot, claimed.job, claimed.attempt);
    }
  }

  private scriptPath(job: JobRow): string | null {
    if (job.process === "custom")
      return job.scriptFile ? join(this.deps.folders.scriptDir(job.uuid), job.scriptFile) : null;
    return this.deps.registry.get(job.process)?.path ?? null;
  }

  private launch(slot: Slot, job: JobRow, attempt: AttemptRow): void {
    const running: Running = { job, attempt, slot, child: null, progress: emptyProgress(), flushTimer: null };
    this.busy.set(slot.id, running);
    const script = this.scriptPath(job);
    if (!script) {
      const error = `The process '${job.process}' is no longer registered on this node`;
      void this.finish(running, {
        cause: "spawn",
        exitCode: null,
        signal: null,
        peakRssKb: null,
        error,
        durationMs: 0,
      });
      return;
    }
    const folders = this.deps.folders;
    const child = runAttempt(this.deps.runtime, {
      spec: {
        jobId: job.uuid,
        attempt: attempt.number,
        queue: attempt.queue,
        retry: job.retry,
        script,
        entrypoint: job.entrypoint,
        params: JSON.parse(job.paramsJson),
        inputFile: job.inputFile ? join(folders.inputsDir(job.uuid), job.inputFile) : null,
        inputDir: folders.inputsDir(job.uuid),
        outputDir: folders.outputsDir(job.uuid),
      },
      cwd: folders.dir(job.uuid),
      logFile: folders.logFile(job.uuid),
      timeLimitS: job.timeLimitS,
      onMessage: (message) => this.onChildMessage(running, message),
    });
    running.child = child;
    if (child.pgid > 0) this.deps.store.setPgid(attempt.id, child.pgid);
    this.deps.logger.info("job started", {
      job: job.uuid,
      attempt: attempt.number,
      slot: slot.id,
      pgid: child.pgid,
    });
    void child.done.then((result) => this.finish(running, result));
  }

  private onChildMessage(running: Running, message: ChildMessage): void {
    if (message.t === "total") running.progress = setTotal(running.progress, message.n);
    else if (message.t === "next") running.progress = nextStep(running.progress, message.info, message.at);
    else if (message.t === "stop") running.progress = stop(running.progress, message.at);
    running.flushTimer ??= setTimeout(() => this.flushProgress(running), PROGRESS_FLUSH_MS);
  }

  private flushProgress(running: Running): void {
    running.flushTimer = null;
    this.deps.store.saveProgress(
      running.job.id,
      running.attempt.id,
      percent(running.progress),
      JSON.stringify(running.progress.steps),
    );
  }

  private async finish(running: Running, result: RunResult): Promise<void> {
    if (running.flushTimer) clearTimeout(running.flushTimer);
    // A step the script left open ends with the attempt (the original's worker called stop()).
    const progress = stop(running.progress, Date.now());
    if (this.interrupting) {
      this.deps.store.requeueAttempt(
        running.attempt.id,
        "the daemon stopped while the job ran; it runs again",
      );
      this.release(running);
      return;
    }
    const verdict = verdictFor(result.cause);
    const stepsJson = JSON.stringify(progress.steps);
    const applied = this.deps.store.finishAttempt(
      running.attempt.id,
      {
        cause: result.cause,
        exitCode: result.exitCode,
        signal: result.signal,
        peakRssKb: result.peakRssKb,
        error: result.error ?? null,
        stepsJson,
      },
      {
        status: verdict.status,
        progress: verdict.status === JobStatus.SUCCESS ? 100 : percent(progress),
        stepsJson,
        resultJson: result.cause === "success" ? JSON.stringify(result.result ?? null) : null,
        error: result.error ?? null,
        nextQueue: verdict.nextQueue,
        nextTimeLimitS: verdict.nextTimeLimitS,
      },
    );
    this.deps.logger.info("job attempt ended", {
      job: running.job.uuid,
      attempt: running.attempt.number,
      cause: result.cause,
      status: applied ? verdict.status : "(stale attempt, ignored)",
      ms: Math.round(result.durationMs),
    });
    this.release(running);
  }

  private release(running: Running): void {
    this.busy.delete(running.slot.id);
    if (this.busy.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    this.notify();
  }

  /** Kills the running attempt of a job, if this node runs it. */
  killJob(uuid: string, cause: "revoked" | "timeout" | "memory"): boolean {
    for (const running of this.busy.values()) {
      if (running.job.uuid === uuid && running.child) {
        running.child.kill(cause);
        return true;
      }
    }
    return false;
  }

  /**
   * Stops dispatching, lets running jobs finish for up to `graceMs`, then kills the rest; their jobs
   * go back to waiting at the next start (recoverInterrupted), as after a crash.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.accepting = false;
    if (this.busy.size === 0) return;
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    const timedOut = await Promise.race([idle.then(() => false), Bun.sleep(graceMs).then(() => true)]);
    if (!timedOut) return;
    this.interrupting = true;
    const stopped = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    for (const running of this.busy.values()) if (running.child) killGroup(running.child.pgid);
    await stopped;
  }

  get runningCount(): number {
    return this.busy.size;
  }
}
