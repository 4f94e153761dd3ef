// The in-process scheduler. Event-driven: it looks for work when a job is submitted, when a slot
// frees, and at start; there is no polling loop. The database is the queue (claimNext is one index
// seek), so nothing is lost with the process and nothing needs rebuilding beyond the slots.
import { join } from "node:path";
import type { EventBus } from "../events/bus.ts";
import { INTERRUPTED, interruptionVerdict, verdictFor } from "../jobs/policy.ts";
import {
  emptyProgress,
  nextStep,
  type ProgressState,
  percent,
  type Step,
  setTotal,
  stop,
} from "../jobs/progress.ts";
import { isTerminal, JobStatus } from "../jobs/states.ts";
import type { Logger } from "../log/logger.ts";
import type { MemoryWatch } from "../runner/memory-watch.ts";
import { daemonProcesses, nodeMarker } from "../runner/process-tree.ts";
import { isPythonScript, type RunningChild, type RunRequest, type RunResult } from "../runner/runner.ts";
import type { WarmPool } from "../runner/warm-pool.ts";
import type { ChildMessage, ChildOutcome, ChildSpec, Reply } from "../sdk/protocol.ts";
import { archiveKind } from "../storage/archive-kind.ts";
import { isDiskFull } from "../storage/disk-guard.ts";
import { outputsNotDurable } from "../storage/fsync.ts";
import type { JobFolders } from "../storage/job-folders.ts";
import type { JobStore } from "../store/job-store.ts";
import type { AttemptRow, JobRow } from "../store/schema.ts";
import {
  escalationQueue,
  GPU_QUEUES,
  KNOWN_QUEUES,
  type QueueService,
  queueService,
  type Slot,
} from "./slots.ts";

/** The input as the child sees it: an archive's root file (or none found), else the upload itself. */
function inputPaths(
  job: JobRow,
  inputsDir: string,
): { inputFile: string | null; inputArchive: string | null } {
  if (!job.inputFile) return { inputFile: null, inputArchive: null };
  const upload = join(inputsDir, job.inputFile);
  if (archiveKind(job.inputFile) === null) return { inputFile: upload, inputArchive: null };
  return { inputFile: job.rootFile ? join(inputsDir, job.rootFile) : null, inputArchive: upload };
}

/** Progress is written at most this often per running job; the final state is written at once. */
const PROGRESS_FLUSH_MS = 100;
/**
 * A job still running this long after its start gets its process group written on its attempt
 * row (for an operator reading the database); a shorter one's goes with its outcome, one commit
 * fewer per job.
 */
const PGID_RECORD_MS = 1000;
/** After a claim the store could not write (a full disk), the next dispatch pass comes this much later. */
const CLAIM_RETRY_MS = 5000;

interface Running {
  job: JobRow;
  attempt: AttemptRow;
  slot: Slot;
  child: RunningChild | null;
  /** Steps of earlier attempts: a retried job shows what each attempt did. */
  earlierSteps: Step[];
  progress: ProgressState;
  flushTimer: ReturnType<typeof setTimeout> | null;
  /** When progress was last written (0: never): the first change after a quiet spell goes at once. */
  flushedAt: number;
  /** Children asked for in this attempt (numbers them for ChildJobs.spawn). */
  spawned: number;
  /** The script's unanswered waits on other jobs, by request number. */
  waits: Map<number, string[]>;
  /** True while it waits on jobs that have not ended: its slot is lent to other work. */
  parked: boolean;
  /** The reply that ends its waiting, held until its slot is free again. */
  resumeWith: Reply | null;
  /** Its process group once known; null once written on the attempt row (or never known). */
  pgid: number | null;
  pgidTimer: ReturnType<typeof setTimeout> | null;
}

export interface QueueState {
  name: string;
  waiting: number;
  running: number;
  /** Slots whose own queue this is, and how many of them run a job now. */
  slots: number;
  busy: number;
  oldestWaitS: number | null;
  waitReason: string | null;
  /** By its own slots, by a stand-in (no GPU here: the cpu slots), or not at all. */
  served: QueueService;
}

export interface SchedulerLimits {
  /** Per-job memory limit in KB by queue; `default` for queues not listed; 0 = unlimited. */
  memoryKb: { default: number; byQueue: Record<string, number> };
  maxRetries: number;
  retryTimeLimitS: number;
  maxLostAttempts: number;
  logMaxBytes: number;
}

/** What the scheduler reads and writes in the store (store/job-store.ts JobStore). */
export type SchedulerStore = Pick<
  JobStore,
  | "claimNext"
  | "setPgid"
  | "saveProgress"
  | "finishAttempt"
  | "requeueAttempt"
  | "recoverInterrupted"
  | "queueStats"
  | "setWaitReasonForQueue"
  | "get"
  | "revoke"
  | "synced"
  | "childrenOf"
>;

/** Where a job's files are (storage/job-folders.ts JobFolders). */
export type JobPaths = Pick<JobFolders, "dir" | "inputsDir" | "outputsDir" | "logFile" | "syncOutputs">;

/** Starts one attempt's process (runner/runner.ts runAttempt, bound to the runtime). */
export type AttemptRunner = (request: RunRequest) => RunningChild;

export interface SchedulerDeps {
  store: SchedulerStore;
  paths: JobPaths;
  /** The script a job runs (its uploaded file, or its process's), or null when it is gone. */
  scriptOf: (job: JobRow) => string | null;
  runAttempt: AttemptRunner;
  /** Milliseconds since the epoch (Date.now in the daemon). */
  now: () => number;
  logger: Logger;
  slots: Slot[];
  nodeId: string;
  memory: MemoryWatch;
  limits: SchedulerLimits;
  bus: EventBus;
  /** Started harnesses waiting for a job, one per slot; null: every job starts cold. */
  warm: Pick<WarmPool, "fill" | "take" | "close"> | null;
  /** Variables every job of this scheduler gets on top of its slot's (a local run's PIXYZ_LOCAL). */
  env?: Record<string, string>;
  /**
   * Whether a peer could take `queue`'s work now (federation): a slot that only stands in for that
   * queue (no GPU here) then leaves the job to the peer.
   */
  prefersPeer?: (queue: string) => boolean;
  /**
   * For a job a peer delegated here (federation): its child jobs live at its origin, so its spawns
   * and waits go there (execution.ts). Absent: every job's children are this node's.
   */
  origin?: {
    spawn(job: JobRow, seq: number, spec: ChildSpec): Promise<string>;
    wait(job: JobRow, ids: string[], timeoutMs: number | undefined): Promise<ChildOutcome[]>;
  };
  /** Gives the data disk's reserve back when a store write fails for lack of space (storage/disk-guard.ts). */
  disk?: { releaseReserve(): boolean };
  /** Creates (or finds again) the `seq`-th child job of `parent`; throws an Error the script gets. */
  spawnChild: (parent: JobRow, seq: number, spec: ChildSpec) => Promise<JobRow>;
}

export class Scheduler {
  /** Slot id -> the attempt occupying it. A parked parent occupies none. */
  private readonly busy = new Map<string, Running>();
  /** Every live attempt, parked or not. */
  private readonly live = new Set<Running>();
  private kickQueued = false;
  private accepting = true;
  /** Set once shutdown kills what outlived its grace: those attempts are interrupted, not failed. */
  private interrupting = false;
  private idleWaiters: (() => void)[] = [];

  /** Marks every process this daemon starts, so a restart can tell its own. */
  private readonly marker: Record<string, string>;

  constructor(private readonly deps: SchedulerDeps) {
    this.marker = nodeMarker(deps.nodeId);
    deps.bus.subscribe((event) => {
      if (event.type === "status" && isTerminal(event.to)) this.onJobEnded();
    });
  }

  get slots(): readonly Slot[] {
    return this.deps.slots;
  }

  get runningCount(): number {
    return this.live.size;
  }

  /** Which job runs on a slot now. */
  runningOn(slotId: string): { uuid: string; attempt: number; since: number } | null {
    const running = this.busy.get(slotId);
    return running
      ? { uuid: running.job.uuid, attempt: running.attempt.number, since: running.attempt.startedAt }
      : null;
  }

  /** Whether an attempt of the job still lives here (its process group may not be gone yet). */
  hasLiveAttempt(uuid: string): boolean {
    for (const running of this.live) if (running.job.uuid === uuid) return true;
    return false;
  }

  /**
   * Every queue a slot serves or a job waits on: its waiting and running jobs, its own slots and
   * how many are busy, every slot that takes its work, its oldest wait and why its jobs wait.
   */
  queues(): QueueState[] {
    const { slots } = this.deps;
    const stats = new Map(this.deps.store.queueStats().map((s) => [s.queue, s]));
    const names = [...new Set([...KNOWN_QUEUES, ...slots.map((s) => s.queue), ...stats.keys()])].sort();
    const now = this.deps.now();
    return names.map((name) => {
      const stat = stats.get(name);
      const own = slots.filter((s) => s.queue === name);
      return {
        name,
        waiting: stat?.waiting ?? 0,
        running: stat?.running ?? 0,
        slots: own.length,
        busy: own.filter((s) => this.busy.has(s.id)).length,
        oldestWaitS: stat?.oldestWaitingAt ? (now - stat.oldestWaitingAt) / 1000 : null,
        waitReason: stat?.waiting ? this.waitReason(name) : null,
        served: queueService(slots, name),
      };
    });
  }

  servesQueue(queue: string): boolean {
    return this.deps.slots.some((slot) => slot.serves.includes(queue));
  }

  /** A sentence for a waiting job that no slot here can run; null when some slot serves its queue. */
  waitReason(queue: string): string | null {
    if (this.servesQueue(queue)) return null;
    const served = [...new Set(this.deps.slots.flatMap((s) => s.serves))].join(", ") || "none";
    const hint = (GPU_QUEUES as readonly string[]).includes(queue)
      ? " With GPU_FALLBACK=cpu it would run on a cpu slot."
      : "";
    return `No slot on this node serves queue '${queue}' (queues served here: ${served}); the job waits until one does.${hint}`;
  }

  /**
   * Recovers what a previous daemon left running (kills its surviving process trees, re-queues or
   * fails the jobs), refreshes why waiting jobs wait, then starts dispatching.
   */
  start(): void {
    const { store, logger, limits } = this.deps;
    // Nothing of this daemon runs yet: any process carrying its marker (PIXYZ_NODE) is left from a
    // previous life (job children notice their daemon's death and kill their own group; this
    // catches what left its group). Killed before the jobs are re-queued, so none runs twice.
    for (const pid of daemonProcesses(this.marker)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // it ended meanwhile
      }
    }
    const { requeued, failed } = store.recoverInterrupted(
      (lostBefore) => interruptionVerdict({ crashed: true, lostBefore, maxLost: limits.maxLostAttempts }),
      { nodeId: this.deps.nodeId, now: this.deps.now() },
    );
    if (requeued.length > 0)
      logger.warn("re-queued jobs interrupted by a restart", { count: requeued.length });
    if (failed.length > 0) {
      logger.error("failed jobs interrupted too often", { jobs: failed.map((j) => j.uuid).join(",") });
    }
    for (const { queue } of store.queueStats()) store.setWaitReasonForQueue(queue, this.waitReason(queue));
    this.notify();
  }

  /** Asks for a dispatch pass soon; many calls in one tick make one pass. */
  notify(): void {
    if (this.kickQueued || !this.accepting) return;
    this.kickQueued = true;
    // After I/O, not as a microtask: the answer to the request that woke us goes out first.
    setImmediate(() => {
      this.kickQueued = false;
      this.dispatch();
    });
  }

  /**
   * Fills free slots: first every slot from its own queue, then idle slots from the other queues
   * they serve (so a gpuhigh slot takes gpu work only when no free gpu slot takes it first).
   */
  private dispatch(): void {
    // Parents whose waiting is over get their slot back before any new job takes it.
    for (const running of this.live) {
      if (!running.parked || !running.resumeWith || this.busy.has(running.slot.id)) continue;
      running.parked = false;
      this.busy.set(running.slot.id, running);
      running.child?.reply(running.resumeWith);
      running.resumeWith = null;
    }
    for (const secondary of [false, true]) {
      for (const slot of this.deps.slots) {
        if (!this.accepting) return;
        if (this.busy.has(slot.id)) continue;
        for (const queue of secondary ? slot.serves.slice(1) : slot.serves.slice(0, 1)) {
          if (queue in slot.fallback && this.deps.prefersPeer?.(queue)) continue;
          let claimed: ReturnType<JobStore["claimNext"]>;
          try {
            claimed = this.deps.store.claimNext(queue, slot.id, this.deps.nodeId);
          } catch (error) {
            // A claim the store cannot write (a full disk) rolls back whole: the job still waits.
            // There is no other wake-up for it, so the pass is tried again in a while.
            this.deps.logger.error("cannot claim a job; trying again in 5 s", {
              queue,
              error: String(error),
            });
            setTimeout(() => this.notify(), CLAIM_RETRY_MS).unref();
            return;
          }
          if (claimed) {
            this.launch(slot, claimed.job, claimed.attempt);
            break;
          }
        }
      }
    }
  }

  /** What every child of a slot gets: its GPU pinned, its name, the daemon's marker. */
  private slotEnv(slot: Slot): Record<string, string> {
    const env: Record<string, string> = { ...this.deps.env, ...this.marker, PIXYZ_SLOT: slot.id };
    if (slot.gpu) {
      env.CUDA_VISIBLE_DEVICES = String(slot.gpu.index);
      env.NVIDIA_VISIBLE_DEVICES = String(slot.gpu.index);
    }
    return env;
  }

  private memoryLimitKb(queue: string): number {
    const { memoryKb } = this.deps.limits;
    return memoryKb.byQueue[queue] ?? memoryKb.default;
  }

  private launch(slot: Slot, job: JobRow, attempt: AttemptRow): void {
    const running: Running = {
      job,
      attempt,
      slot,
      child: null,
      earlierSteps: job.stepsJson ? (JSON.parse(job.stepsJson) as Step[]) : [],
      progress: emptyProgress(),
      flushTimer: null,
      flushedAt: 0,
      spawned: 0,
      waits: new Map(),
      parked: false,
      resumeWith: null,
      pgid: null,
      pgidTimer: null,
    };
    this.busy.set(slot.id, running);
    this.live.add(running);
    const script = this.deps.scriptOf(job);
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
    const folders = this.deps.paths;
    const pin = this.slotEnv(slot);
    const warm =
      isPythonScript(script) || slot.kind !== "compute" ? null : (this.deps.warm?.take(slot.id, pin) ?? null);
    const child = this.deps.runAttempt({
      spec: {
        jobId: job.uuid,
        cwd: folders.dir(job.uuid),
        computeOnly: job.computeOnly,
        attempt: attempt.number,
        queue: attempt.queue,
        retry: job.retry,
        script,
        entrypoint: job.entrypoint,
        params: JSON.parse(job.paramsJson),
        ...inputPaths(job, folders.inputsDir(job.uuid)),
        inputDir: folders.inputsDir(job.uuid),
        outputDir: folders.outputsDir(job.uuid),
      },
      cwd: folders.dir(job.uuid),
      logFile: folders.logFile(job.uuid),
      timeLimitS: job.timeLimitS,
      logMaxBytes: this.deps.limits.logMaxBytes,
      env: pin,
      memory: { watch: this.deps.memory, limitKb: this.memoryLimitKb(attempt.queue) },
      warm,
      onMessage: (message) => this.onChildMessage(running, message),
    });
    running.child = child;
    // Known once the process runs: at once for a spawned one, a moment later for a forked one.
    void child.pgid.then((pgid) => {
      if (pgid > 0 && this.live.has(running)) {
        running.pgid = pgid;
        running.pgidTimer = setTimeout(() => this.recordPgid(running), PGID_RECORD_MS);
      }
      this.deps.logger.info("job started", {
        job: job.uuid,
        attempt: attempt.number,
        queue: attempt.queue,
        slot: slot.id,
        pgid,
      });
    });
    void child.done.then((result) => this.finish(running, result));
  }

  /** Writes a long-running job's process group on its attempt row (PGID_RECORD_MS). */
  private recordPgid(running: Running): void {
    running.pgidTimer = null;
    if (running.pgid === null) return;
    try {
      this.deps.store.setPgid(running.attempt.id, running.pgid);
      running.pgid = null;
    } catch (error) {
      // Only shown in the attempt's details: the job runs on without it (its outcome tries again).
      this.deps.logger.warn("could not record the job's process group", {
        job: running.job.uuid,
        error: String(error),
      });
    }
  }

  private onChildMessage(running: Running, message: ChildMessage): void {
    switch (message.t) {
      case "spawn":
        this.onSpawn(running, message.req, message.job);
        return;
      case "wait":
        this.onWait(running, message.req, message.ids, message.timeoutMs);
        return;
      case "total":
        running.progress = setTotal(running.progress, message.n);
        break;
      case "next":
        running.progress = nextStep(running.progress, message.info, message.at);
        break;
      case "stop":
        running.progress = stop(running.progress, message.at);
        break;
      default:
        return;
    }
    // Nothing to show before the first step (a total alone leaves the progress at 0).
    if (running.flushTimer || running.progress.steps.length === 0) return;
    // At most one write per PROGRESS_FLUSH_MS per job: at once after a quiet spell, else at the end
    // of the window (so a burst of steps costs one write, and a lone step shows without delay).
    const wait = running.flushedAt + PROGRESS_FLUSH_MS - this.deps.now();
    if (wait <= 0) this.flushProgress(running);
    else running.flushTimer = setTimeout(() => this.flushProgress(running), wait);
  }

  private allSteps(running: Running, progress: ProgressState): string {
    return JSON.stringify([...running.earlierSteps, ...progress.steps]);
  }

  private flushProgress(running: Running): void {
    running.flushTimer = null;
    running.flushedAt = this.deps.now();
    const progress = percent(running.progress);
    const steps = [...running.earlierSteps, ...running.progress.steps];
    let saved: boolean;
    try {
      saved = this.deps.store.saveProgress(
        running.job.id,
        running.attempt.id,
        progress,
        JSON.stringify(steps),
      );
    } catch (error) {
      // A full disk: the next message or the attempt's end writes the progress again.
      this.deps.logger.warn("job progress could not be saved", {
        job: running.job.uuid,
        error: String(error),
      });
      return;
    }
    if (saved)
      this.deps.bus.publish({
        type: "progress",
        job: running.job.uuid,
        progress,
        total: running.progress.total,
        steps,
        at: this.deps.now(),
      });
  }

  /**
   * Stores the attempt's outcome, then frees its slot. A full disk does not lose the outcome: the
   * disk's reserve is given back and the write tried again; if that is not enough, it is retried
   * (1 s, doubling to 30 s) with the slot still held, so the slots and the store never disagree.
   * Only a shutdown gives up: the job stays STARTED and the next start runs it again.
   */
  private async finish(running: Running, ended: RunResult): Promise<void> {
    if (running.flushTimer) clearTimeout(running.flushTimer);
    if (running.pgidTimer) clearTimeout(running.pgidTimer);
    const result = await this.withDurableOutputs(running, ended);
    for (let delayMs = 1000; ; delayMs = Math.min(delayMs * 2, 30000)) {
      try {
        this.recordOrFail(running, result);
        break;
      } catch (error) {
        const log = { job: running.job.uuid, error: String(error) };
        if (!isDiskFull(error)) {
          this.deps.logger.error("job outcome could not be stored", log);
          break;
        }
        if (this.deps.disk?.releaseReserve()) continue;
        if (!this.accepting) {
          this.deps.logger.error(
            "job outcome could not be stored before the stop: the next start runs it again",
            log,
          );
          break;
        }
        this.deps.logger.error(
          `the disk is full: the job's outcome is tried again in ${delayMs / 1000} s`,
          log,
        );
        await Bun.sleep(delayMs);
      }
    }
    this.release(running);
  }

  /**
   * A success stands only once its outputs are on disk (paths.syncOutputs): the SUCCESS row must
   * never reach the disk before the files it points to. A job a peer delegated here is synced by
   * its origin, which receives the files.
   */
  private async withDurableOutputs(running: Running, result: RunResult): Promise<RunResult> {
    if (result.cause !== "success" || this.isForeign(running.job)) return result;
    try {
      await this.deps.paths.syncOutputs(running.job.uuid);
      return result;
    } catch (error) {
      return {
        ...result,
        cause: "disk",
        result: undefined,
        error: outputsNotDurable(error),
      };
    }
  }

  /**
   * Records the outcome; one the store refuses for what it holds (a result nested too deep to
   * serialize: a script can write its own lines on fd 3) fails the job instead of leaving it
   * STARTED. A full disk is thrown to the caller: that outcome is fine and is tried again.
   */
  private recordOrFail(running: Running, result: RunResult): void {
    try {
      this.record(running, result);
    } catch (error) {
      if (isDiskFull(error)) throw error;
      this.deps.logger.error("job outcome could not be stored", {
        job: running.job.uuid,
        error: String(error),
      });
      this.record(running, {
        ...result,
        cause: "exception",
        result: undefined,
        error: `The job reported an outcome that cannot be stored: ${(error as Error).message}`,
      });
    }
  }

  /** Writes the attempt's end and the job's new status. */
  private record(running: Running, result: RunResult): void {
    // A step the script left open ends with the attempt (the original's worker called stop()).
    const progress = stop(running.progress, this.deps.now());
    // A job whose process had already ended with its result when the grace ran out (its end and
    // the kill crossed, or its outputs were being fsynced) keeps it: only an interrupted one runs again.
    if (this.interrupting && result.cause !== "success") {
      // A stop's interruption is never the job's fault: the policy always runs it again.
      const verdict = interruptionVerdict({
        crashed: false,
        lostBefore: 0,
        maxLost: this.deps.limits.maxLostAttempts,
      });
      this.deps.store.requeueAttempt(
        running.attempt.id,
        verdict.note ?? INTERRUPTED,
        "stopped",
        running.pgid ?? undefined,
      );
      return;
    }
    const { limits } = this.deps;
    // A job a peer delegated here is retried (or not) by its origin.
    const foreign = running.job.originNode !== null && running.job.originNode !== this.deps.nodeId;
    const verdict = verdictFor({
      cause: result.cause,
      queue: running.attempt.queue,
      retry: running.job.retry,
      maxRetries: foreign ? 0 : limits.maxRetries,
      escalateTo: escalationQueue(this.deps.slots),
      retryTimeLimitS: limits.retryTimeLimitS,
    });
    const applied = this.deps.store.finishAttempt(
      running.attempt.id,
      {
        cause: result.cause,
        exitCode: result.exitCode,
        signal: result.signal,
        peakRssKb: result.peakRssKb,
        error: result.error ?? null,
        stepsJson: JSON.stringify(progress.steps),
        // Not written yet: a short job's goes with its end.
        ...(running.pgid !== null ? { pgid: running.pgid } : {}),
        // Where it ran, when a stand-in slot ran it (no GPU here), then what follows it.
        note: [running.slot.fallback[running.attempt.queue], verdict.note].filter(Boolean).join("; ") || null,
      },
      {
        status: verdict.status,
        // A failed attempt's last step did not complete: its progress is what it had reached.
        progress: verdict.status === JobStatus.SUCCESS ? 100 : percent(running.progress),
        stepsJson: this.allSteps(running, progress),
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
      note: verdict.note,
      peakRssKb: result.peakRssKb ?? undefined,
      ms: Math.round(result.durationMs),
    });
  }

  private release(running: Running): void {
    // A parked parent lent its slot: whoever runs there now keeps it.
    if (this.busy.get(running.slot.id) === running) this.busy.delete(running.slot.id);
    this.live.delete(running);
    // The next job of this slot gets a warm child, started now that this one's outcome is stored:
    // started beside the running job, it took the job's CPU (no-op TS jobs: submit -> SUCCESS
    // 1 ms slower, 15 % fewer jobs/s on 2 cores). Only while work flows (none at start, none kept
    // after WARM_IDLE without work), and never on a control slot, whose orchestrating jobs mostly wait.
    // After I/O, not at once: the spawn holds the event loop 1 to 1.5 ms, and the outcome's news
    // (the watchers' end event, a poll's answer) goes out first. Queued before the dispatch below,
    // so the slot's next job still finds the child; a pass queued earlier that gave the slot a job
    // (started cold) leaves it without one until that job ends.
    if (running.slot.kind === "compute") {
      const slot = running.slot;
      setImmediate(() => {
        if (!this.busy.has(slot.id)) this.deps.warm?.fill(slot.id, this.slotEnv(slot));
      });
    }
    if (this.live.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    this.notify();
  }

  /** A job a peer delegated here: its family lives at its origin. */
  private isForeign(job: JobRow): boolean {
    return job.originNode !== null && job.originNode !== this.deps.nodeId;
  }

  private onSpawn(running: Running, req: number, spec: ChildSpec): void {
    running.spawned += 1;
    const { origin } = this.deps;
    if (origin && this.isForeign(running.job)) {
      origin.spawn(running.job, running.spawned, spec).then(
        (uuid) => running.child?.reply({ t: "reply", req, ok: true, value: uuid }),
        (error: Error) => running.child?.reply({ t: "reply", req, ok: false, error: error.message }),
      );
      return;
    }
    this.deps.spawnChild(running.job, running.spawned, spec).then(
      (child) => running.child?.reply({ t: "reply", req, ok: true, value: child.uuid }),
      (error: Error) => running.child?.reply({ t: "reply", req, ok: false, error: error.message }),
    );
  }

  /** The outcomes of `ids`, or null while one of them has not ended (with `now`: where each is). */
  private outcomes(ids: string[], now = false): ChildOutcome[] | null {
    const outcomes: ChildOutcome[] = [];
    for (const id of ids) {
      const job = this.deps.store.get(id);
      if (!job) throw new Error(`Job '${id}' does not exist`);
      if (!now && !isTerminal(job.status)) return null;
      outcomes.push(childOutcome(job));
    }
    return outcomes;
  }

  /**
   * A script waits on jobs. Answered at once when they have all ended; otherwise the script is
   * parked: its slot is lent out (so its children, or anything else, can run there) until the
   * waiting is over, and then it gets the slot back before new work does. So parents waiting on
   * children can fill every slot and the children still run. With `timeoutMs`, the waiting is over
   * by then at the latest (the reply says where each job is); 0 answers at once, without parking.
   */
  private onWait(running: Running, req: number, ids: string[], timeoutMs?: number): void {
    if (this.deps.origin && this.isForeign(running.job)) {
      this.onOriginWait(running, req, ids, timeoutMs);
      return;
    }
    let ready: ChildOutcome[] | null;
    try {
      ready = this.outcomes(ids);
      if (!ready && timeoutMs === 0) ready = this.outcomes(ids, true);
    } catch (error) {
      running.child?.reply({ t: "reply", req, ok: false, error: (error as Error).message });
      return;
    }
    if (ready && (!running.parked || timeoutMs === 0)) {
      running.child?.reply({ t: "reply", req, ok: true, value: ready });
      return;
    }
    running.waits.set(req, ids);
    // Longer than a timer can hold (about 24.8 days): as good as no timeout.
    if (typeof timeoutMs === "number" && timeoutMs > 0 && timeoutMs < 2 ** 31) {
      setTimeout(() => this.onWaitTimeout(running, req), timeoutMs).unref();
    }
    if (!running.parked) {
      running.parked = true;
      this.busy.delete(running.slot.id);
      this.deps.logger.debug("job parked while it waits", { job: running.job.uuid, slot: running.slot.id });
      this.notify();
    }
    this.onJobEnded();
  }

  /**
   * A delegated job waits on jobs of its origin: it is parked here as for a local wait (its slot
   * lent out: the children may be placed on this node), and gets its slot back with the answer.
   */
  private onOriginWait(running: Running, req: number, ids: string[], timeoutMs?: number): void {
    const answer = (reply: Reply) => {
      if (!this.live.has(running)) return;
      if (running.parked) {
        running.resumeWith = reply;
        this.notify();
      } else running.child?.reply(reply);
    };
    if (timeoutMs !== 0 && !running.parked) {
      running.parked = true;
      this.busy.delete(running.slot.id);
      this.notify();
    }
    this.deps.origin!.wait(running.job, ids, timeoutMs).then(
      (value) => answer({ t: "reply", req, ok: true, value }),
      (error: Error) => answer({ t: "reply", req, ok: false, error: error.message }),
    );
  }

  /** A wait with a timeout that is still going: answered with where each job is. */
  private onWaitTimeout(running: Running, req: number): void {
    const ids = running.waits.get(req);
    if (!ids || !this.live.has(running)) return;
    running.waits.delete(req);
    let reply: Reply;
    try {
      reply = { t: "reply", req, ok: true, value: this.outcomes(ids, true) };
    } catch (error) {
      reply = { t: "reply", req, ok: false, error: (error as Error).message };
    }
    if (running.parked && running.waits.size === 0) {
      running.resumeWith = reply;
      this.notify();
    } else running.child?.reply(reply);
  }

  /** Answers the waits that some job's end completed; the last one of a parked parent waits for its slot. */
  private onJobEnded(): void {
    let resume = false;
    for (const running of this.live) {
      for (const [req, ids] of running.waits) {
        const outcomes = this.outcomes(ids);
        if (!outcomes) continue;
        running.waits.delete(req);
        const reply: Reply = { t: "reply", req, ok: true, value: outcomes };
        if (running.parked && running.waits.size === 0) {
          running.resumeWith = reply;
          resume = true;
        } else running.child?.reply(reply);
      }
    }
    if (resume) this.notify();
  }

  /**
   * Cancels a job for a client: `revoke`, then resolves once the change is on disk (the client is
   * told next).
   */
  async cancel(uuid: string): Promise<JobRow | null> {
    const job = this.revoke(uuid);
    await this.deps.store.synced();
    return job;
  }

  /**
   * Cancels a job (idempotent): REVOKED in the store first, so it never starts again even if the
   * daemon dies now; then its process tree is killed if it runs here. Null when the job is unknown.
   * Not waiting for the disk: for callers that tell no client (a dropped delegation, a local run).
   */
  revoke(uuid: string): JobRow | null {
    const revoked = this.deps.store.revoke(uuid);
    if (!revoked) return null;
    // Cancelling a parent cancels what it started and is still waiting or running.
    for (const child of this.deps.store.childrenOf(uuid))
      if (!isTerminal(child.status)) this.revoke(child.uuid);
    if (revoked.wasRunning) {
      for (const running of this.live) {
        if (running.job.uuid === uuid) running.child?.kill("revoked");
      }
      this.deps.logger.info("job cancelled while running", { job: uuid });
    }
    return revoked.job;
  }

  /**
   * Stops dispatching, lets running jobs finish for up to `graceMs`, then kills the rest and puts
   * their jobs back to waiting at once (requeueAttempt): the next start runs them again.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.accepting = false;
    this.deps.warm?.close();
    if (this.live.size === 0) return;
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    const timedOut = await Promise.race([idle.then(() => false), Bun.sleep(graceMs).then(() => true)]);
    if (!timedOut) return;
    this.interrupting = true;
    const stopped = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    for (const running of this.live) running.child?.kill("stop");
    await stopped;
  }
}

/** What a waiting script is told about a job: its outcome and its meta, as in the details. */
export function childOutcome(job: JobRow): ChildOutcome {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString().replace("Z", "+00:00"));
  return {
    id: job.uuid,
    status: job.status,
    result: isTerminal(job.status) && job.resultJson !== null ? JSON.parse(job.resultJson) : null,
    error: isTerminal(job.status) ? job.error : null,
    name: job.name,
    progress: job.progress,
    steps: job.stepsJson === null ? [] : (JSON.parse(job.stepsJson) as { duration: number; info: string }[]),
    time_info: { request: iso(job.requestedAt), started: iso(job.startedAt), stopped: iso(job.stoppedAt) },
    retry: job.retry,
  };
}
