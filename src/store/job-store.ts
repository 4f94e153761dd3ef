// The only code that reads and writes jobs, attempts and events. Every state change goes through
// `move`, which asks the state machine first and appends an event row in the same transaction.
import { and, asc, desc, eq, inArray, isNull, lt, sql } from "drizzle-orm";
import type { EventBus, JobEvent } from "../events/bus.ts";
import { type AttemptCause, INTERRUPTED, type Verdict } from "../jobs/policy.ts";
import { assertTransition, isTerminal, JobStatus, TERMINAL, WAITING } from "../jobs/states.ts";
import type { Db } from "./db.ts";
import { RowWriter } from "./row-writes.ts";
import {
  type AttemptRow,
  attempts,
  type JobEventRow,
  type JobRow,
  jobEvents,
  jobs,
  type NewJobRow,
} from "./schema.ts";
import { WalSync } from "./wal-sync.ts";

/**
 * What a transaction's body writes through: the connection itself (one connection, used by one
 * thread, so whatever runs between BEGIN and COMMIT is the transaction).
 */
type Tx = Db;

export interface AttemptEnd {
  cause: AttemptCause;
  note?: string | null;
  exitCode: number | null;
  signal: string | null;
  peakRssKb: number | null;
  error: string | null;
  stepsJson: string;
  /**
   * The attempt's process group, when not recorded yet (setPgid): written with the end in the same
   * transaction, so a short job needs no write of its own for it.
   */
  pgid?: number | null;
}

export interface JobOutcome {
  status: JobStatus;
  progress: number | null;
  stepsJson: string;
  resultJson: string | null;
  error: string | null;
  /** For RETRY: the queue and time limit of the next attempt. */
  nextQueue?: string;
  nextTimeLimitS?: number;
}

export interface Claimed {
  job: JobRow;
  attempt: AttemptRow;
}

export class JobStore {
  /** Status events of the transaction in progress, published once it commits. */
  private pending: JobEvent[] = [];

  /**
   * The hot queries, prepared once: building a drizzle query costs about 70 µs, running a prepared
   * one 2 to 5 µs. Status reads, claims and outcomes run these on every request or job. They run on
   * the one connection, so they work inside a transaction too.
   */
  private readonly byUuid;
  private readonly byId;
  private readonly attemptById;
  private readonly byCurrentAttempt;
  private readonly nextWaitingOf;
  private readonly attemptCountOf;
  /** The per-job writes, as plain SQL (row-writes.ts): drizzle's builder cost more than the writes. */
  private readonly jobRows;
  private readonly attemptRows;
  private readonly eventRows;
  /** The fsync that makes commits durable (wal-sync.ts): what `synced()` waits for. */
  private readonly wal: WalSync;

  constructor(
    readonly db: Db,
    private readonly bus: EventBus | null = null,
  ) {
    this.byUuid = db
      .select()
      .from(jobs)
      .where(eq(jobs.uuid, sql.placeholder("uuid")))
      .prepare();
    this.byId = db
      .select()
      .from(jobs)
      .where(eq(jobs.id, sql.placeholder("id")))
      .prepare();
    this.attemptById = db
      .select()
      .from(attempts)
      .where(eq(attempts.id, sql.placeholder("id")))
      .prepare();
    // Through the attempt's row: jobs has no index on current_attempt_id, and a filter on it alone
    // scanned every job ever stored (an outcome cost more the longer the history). A scalar
    // subquery rather than a join: the same two primary-key seeks, 3 µs against 16.
    const attempt = sql.placeholder("attempt");
    this.byCurrentAttempt = db
      .select()
      .from(jobs)
      .where(
        and(
          eq(jobs.id, sql`(SELECT ${attempts.jobId} FROM ${attempts} WHERE ${attempts.id} = ${attempt})`),
          eq(jobs.currentAttemptId, attempt),
        ),
      )
      .prepare();
    // One query per waiting status: with `status IN (...)` SQLite read every waiting job of the
    // queue into a temporary b-tree to order them (a claim cost more the longer the backlog); for
    // one status the index's own order is the claim order, and the first row is the answer.
    // The ordered query costs about 12 µs even when nothing matches; a status with no waiting job
    // in the queue (mostly RETRY) is ruled out first by a 2 µs probe on the same index.
    this.nextWaitingOf = WAITING.map((status) => ({
      any: db.$client.query<unknown, [string]>(
        `SELECT 1 FROM jobs WHERE status = '${status}' AND queue = ? LIMIT 1`,
      ),
      first: db
        .select()
        .from(jobs)
        .where(and(eq(jobs.status, status), eq(jobs.queue, sql.placeholder("queue"))))
        .orderBy(desc(jobs.priority), asc(jobs.id))
        .limit(1)
        .prepare(),
    }));
    this.attemptCountOf = db
      .select({ n: sql<number>`count(*)` })
      .from(attempts)
      .where(eq(attempts.jobId, sql.placeholder("job")))
      .prepare();
    this.jobRows = new RowWriter<JobRow>(db, jobs);
    this.attemptRows = new RowWriter<AttemptRow>(db, attempts);
    this.eventRows = new RowWriter<JobEventRow>(db, jobEvents);
    this.wal = WalSync.open(db.$client.filename);
  }

  /**
   * Resolves once every commit made so far is on disk (an fdatasync of the WAL on Bun's I/O threads,
   * shared by the callers that arrive while one runs). Every commit is made at `synchronous =
   * NORMAL`: a crash of the daemon loses none, a power loss may lose the last ones. What a client
   * is told is done (a submission, a cancel) waits for this before the answer (invariant 1).
   */
  synced(): Promise<void> {
    return this.wal.sync();
  }

  /** Closes the connection (its statements finalized, the file released at once). */
  close(): void {
    this.wal.close();
    this.db.$client.close(true);
  }

  /** Runs `fn` in a transaction, then publishes the status changes it made (none if it failed). */
  private probe: ReturnType<Db["$client"]["query"]> | null = null;
  /** Whether a queue has a waiting job: the claim query's first step, on the same index. */
  private waitingProbe() {
    this.probe ??= this.db.$client.query(
      `SELECT 1 FROM jobs WHERE status IN (${WAITING.map((s) => `'${s}'`).join(", ")}) AND queue = ? LIMIT 1`,
    );
    return this.probe;
  }

  /**
   * BEGIN and COMMIT as compiled statements on the connection: drizzle's transaction (and bun's
   * wrapper under it) builds objects and compiles BEGIN and COMMIT again on every call. A call from
   * inside a transaction runs as part of it (the outer one commits and publishes).
   */
  private transact<T>(fn: (tx: Tx) => T): T {
    const sqlite = this.db.$client;
    if (sqlite.inTransaction) return fn(this.db);
    let result: T;
    try {
      sqlite.prepare("BEGIN").run();
      result = fn(this.db);
      sqlite.prepare("COMMIT").run();
    } catch (error) {
      // A failed COMMIT (a full disk) can leave the transaction open; some errors roll it back already.
      if (sqlite.inTransaction) sqlite.prepare("ROLLBACK").run();
      this.pending = [];
      throw error;
    }
    const events = this.pending;
    this.pending = [];
    for (const event of events) this.bus?.publish(event);
    return result;
  }

  private move(
    job: JobRow,
    to: JobStatus,
    attemptId: number | null,
    detail: string | null,
    set: Partial<JobRow>,
  ) {
    assertTransition(job.status, to);
    this.jobRows.update({ ...set, status: to }, '"id" = ?', job.id);
    const at = Date.now();
    this.eventRows.insert({ jobId: job.id, attemptId, fromStatus: job.status, toStatus: to, at, detail });
    this.pending.push({
      type: "status",
      job: job.uuid,
      from: job.status,
      to,
      queue: set.queue ?? job.queue,
      attempt: attemptId,
      detail,
      at,
    });
  }

  /**
   * Inserts an accepted job (PENDING) with its first event; returns the stored row. Committed at
   * once (the scheduler may claim it now); on disk once `synced()` resolves: await it before the
   * client is told.
   */
  insert(values: Omit<NewJobRow, "status" | "id">): JobRow {
    return this.transact(() => {
      const id = this.jobRows.insert({ ...values, status: JobStatus.PENDING });
      // Read back rather than built here: the row as stored, with the schema's defaults.
      const row = this.byId.get({ id })!;
      this.eventRows.insert({ jobId: id, toStatus: JobStatus.PENDING, at: row.requestedAt });
      this.pending.push({
        type: "status",
        job: row.uuid,
        from: null,
        to: JobStatus.PENDING,
        queue: row.queue,
        attempt: null,
        detail: null,
        at: row.requestedAt,
      });
      return row;
    });
  }

  get(uuid: string): JobRow | undefined {
    return this.byUuid.get({ uuid });
  }

  list(options: { limit: number; status?: JobStatus }): JobRow[] {
    const query = this.db.select().from(jobs);
    const filtered = options.status ? query.where(eq(jobs.status, options.status)) : query;
    return filtered.orderBy(desc(jobs.id)).limit(options.limit).all();
  }

  attemptsOf(jobId: number): AttemptRow[] {
    return this.db.select().from(attempts).where(eq(attempts.jobId, jobId)).orderBy(asc(attempts.id)).all();
  }

  eventsOf(jobId: number): JobEventRow[] {
    return this.db
      .select()
      .from(jobEvents)
      .where(eq(jobEvents.jobId, jobId))
      .orderBy(asc(jobEvents.id))
      .all();
  }

  /**
   * Takes the next waiting job of `queue` (highest priority, then oldest) and opens an attempt for
   * it, atomically. One index seek on jobs_claim_idx per waiting status, whatever the backlog.
   */
  claimNext(queue: string, slot: string, nodeId: string): Claimed | null {
    // Most asks find nothing (every free slot asks for every queue it serves, on every submit and
    // end): one prepared index probe answers those, without a transaction or a query build.
    if (this.waitingProbe().get(queue) === null) return null;
    return this.transact(() => {
      const job = this.nextWaiting(queue);
      if (!job) return null;
      return this.claimTx(job, this.attemptCount(job.id) + 1, slot, nodeId, null);
    });
  }

  private attemptCount(jobId: number): number {
    return this.attemptCountOf.get({ job: jobId })?.n ?? 0;
  }

  /** Opens attempt `number` of a waiting job on `slot` of node `nodeId` and moves it to STARTED. */
  private claimTx(
    job: JobRow,
    number: number,
    slot: string,
    nodeId: string,
    leaseExpiresAt: number | null,
  ): Claimed {
    const now = Date.now();
    const attemptId = this.attemptRows.insert({
      jobId: job.id,
      number,
      queue: job.queue,
      slot,
      nodeId,
      leaseExpiresAt,
      startedAt: now,
    });
    const attempt = this.attemptById.get({ id: attemptId })!;
    this.move(job, JobStatus.STARTED, attempt.id, `slot ${slot}`, {
      currentAttemptId: attempt.id,
      startedAt: now,
      stoppedAt: null,
      waitReason: null,
      progress: 0,
      stepsJson: "[]",
    });
    return {
      job: { ...job, status: JobStatus.STARTED, currentAttemptId: attempt.id, startedAt: now },
      attempt,
    };
  }

  /** The next waiting job of `queue`: highest priority, then oldest (a claim, federation placement). */
  nextWaiting(queue: string): JobRow | undefined {
    let next: JobRow | undefined;
    for (const query of this.nextWaitingOf) {
      if (query.any.get(queue) === null) continue;
      const job = query.first.get({ queue });
      if (
        job &&
        (!next || job.priority > next.priority || (job.priority === next.priority && job.id < next.id))
      )
        next = job;
    }
    return next;
  }

  /**
   * Node ids that ran an attempt of the job which ended other than `success`, `lost`, `stopped` or
   * `disk` (a delegated attempt's `disk` is the origin's own disk failing to keep its outputs).
   */
  failedOn(jobId: number): Set<string> {
    const rows = this.db
      .select({ node: attempts.nodeId, cause: attempts.exitCause })
      .from(attempts)
      .where(eq(attempts.jobId, jobId))
      .all();
    return new Set(
      rows
        .filter((r) => r.node && r.cause && !["success", "lost", "stopped", "disk"].includes(r.cause))
        .map((r) => r.node!),
    );
  }

  /**
   * A peer accepted attempt `number` of a waiting job: it is claimed for that peer under a lease.
   * Null when the job is no longer waiting or another attempt opened meanwhile (the peer is told to drop it).
   */
  claimForPeer(
    uuid: string,
    number: number,
    slot: string,
    nodeId: string,
    leaseExpiresAt: number,
  ): Claimed | null {
    return this.transact((tx) => {
      const job = tx.select().from(jobs).where(eq(jobs.uuid, uuid)).get();
      if (!job || !WAITING.includes(job.status) || this.attemptCount(job.id) + 1 !== number) return null;
      return this.claimTx(job, number, slot, nodeId, leaseExpiresAt);
    });
  }

  /** The job's current attempt if it is attempt `number`, run by `nodeId`, and the job still STARTED. */
  delegatedAttempt(
    uuid: string,
    number: number,
    nodeId: string,
  ): { job: JobRow; attempt: AttemptRow } | null {
    const job = this.get(uuid);
    if (!job || job.status !== JobStatus.STARTED || job.currentAttemptId === null) return null;
    const attempt = this.db.select().from(attempts).where(eq(attempts.id, job.currentAttemptId)).get();
    if (!attempt || attempt.number !== number || attempt.nodeId !== nodeId || attempt.endedAt !== null)
      return null;
    return { job, attempt };
  }

  /** Extends a delegated attempt's lease (fenced by the caller through delegatedAttempt). */
  renewLease(attemptId: number, until: number): void {
    this.db.update(attempts).set({ leaseExpiresAt: until }).where(eq(attempts.id, attemptId)).run();
  }

  /** Running attempts on peers whose lease ended before `now`, or every one of `nodeId`'s. */
  expiredLeases(now: number, nodeId?: string): { job: JobRow; attempt: AttemptRow }[] {
    return this.db
      .select({ job: jobs, attempt: attempts })
      .from(attempts)
      .innerJoin(jobs, eq(jobs.currentAttemptId, attempts.id))
      .where(
        and(
          eq(jobs.status, JobStatus.STARTED),
          isNull(attempts.endedAt),
          nodeId ? eq(attempts.nodeId, nodeId) : lt(attempts.leaseExpiresAt, now),
        ),
      )
      .all()
      .filter((row) => row.attempt.leaseExpiresAt !== null);
  }

  /** Unfinished jobs another node delegated here (a restarted executor drops them: their origin re-places them). */
  unfinishedFrom(otherThan: string): JobRow[] {
    return this.db
      .select()
      .from(jobs)
      .where(
        and(inArray(jobs.status, [...WAITING, JobStatus.STARTED]), sql`${jobs.originNode} != ${otherThan}`),
      )
      .all();
  }

  /** The n-th child `parentUuid` asked for, if it exists already. */
  findChild(parentUuid: string, spawnSeq: number): JobRow | undefined {
    return this.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.parentUuid, parentUuid), eq(jobs.spawnSeq, spawnSeq)))
      .get();
  }

  /** The children of a job, in the order they were asked for. */
  childrenOf(parentUuid: string): JobRow[] {
    return this.db
      .select()
      .from(jobs)
      .where(eq(jobs.parentUuid, parentUuid))
      .orderBy(asc(jobs.spawnSeq))
      .all();
  }

  /** Records the child's process group on the attempt row, for an operator reading the database (the kills use the live one). */
  setPgid(attemptId: number, pgid: number): void {
    this.attemptRows.update({ pgid }, '"id" = ?', attemptId);
  }

  /** Fenced: ignored unless `attemptId` is still the job's current attempt. */
  saveProgress(jobId: number, attemptId: number, progress: number, stepsJson: string): boolean {
    return (
      this.jobRows.update(
        { progress, stepsJson },
        '"id" = ? AND "current_attempt_id" = ? AND "status" = ?',
        jobId,
        attemptId,
        JobStatus.STARTED,
      ) > 0
    );
  }

  /**
   * Closes an attempt and moves its job to the outcome's status. Fenced: a stale attempt (the job
   * moved on, was revoked, or a newer attempt owns it) only gets its attempt row closed, plus the
   * closed steps when the job was revoked.
   */
  finishAttempt(attemptId: number, end: AttemptEnd, outcome: JobOutcome): boolean {
    return this.transact(() => {
      const now = Date.now();
      const { cause, ...rest } = end;
      this.attemptRows.update(
        { ...rest, exitCause: cause, endedAt: now },
        '"id" = ? AND "ended_at" IS NULL',
        attemptId,
      );
      const job = this.byCurrentAttempt.get({ attempt: attemptId });
      // Cancelled while it ran: the job stays REVOKED, but shows its steps closed as the attempt's are.
      if (job?.status === JobStatus.REVOKED) {
        this.jobRows.update({ stepsJson: outcome.stepsJson }, '"id" = ?', job.id);
      }
      if (!job || job.status !== JobStatus.STARTED) return false;
      const retrying = outcome.status === JobStatus.RETRY;
      this.move(job, outcome.status, attemptId, end.note ? `${end.cause}: ${end.note}` : end.cause, {
        progress: outcome.progress,
        stepsJson: outcome.stepsJson,
        resultJson: outcome.resultJson,
        error: outcome.error,
        stoppedAt: retrying ? null : now,
        ...(retrying
          ? { retry: job.retry + 1, queue: outcome.nextQueue, timeLimitS: outcome.nextTimeLimitS }
          : {}),
      });
      return true;
    });
  }

  /** Closes the job's current attempt as interrupted: `lost` (found after a crash) or `stopped`. */
  private closeLost(job: JobRow, reason: string, cause: "lost" | "stopped" = "lost", pgid?: number): void {
    if (job.currentAttemptId === null) return;
    this.attemptRows.update(
      { endedAt: Date.now(), exitCause: cause, error: reason, ...(pgid !== undefined ? { pgid } : {}) },
      '"id" = ? AND "ended_at" IS NULL',
      job.currentAttemptId,
    );
  }

  /** Ends the job's current attempt as interrupted and puts the job back to waiting, keeping its place. */
  private requeueTx(job: JobRow, reason: string, cause: "lost" | "stopped" = "lost", pgid?: number): void {
    this.closeLost(job, reason, cause, pgid);
    this.move(job, JobStatus.PENDING, job.currentAttemptId, reason, {
      currentAttemptId: null,
      progress: null,
    });
  }

  /**
   * At start: jobs left STARTED by a daemon that died have no live attempt. Each attempt is closed
   * as lost and its job gets the verdict `decide` gives for it (jobs/policy.ts
   * interruptionVerdict): back to waiting at its old place, or failed. The caller kills what the
   * dead daemon's jobs left running first (by the node marker).
   */
  recoverInterrupted(
    decide: (lostBefore: number) => Verdict & { error?: string },
    /** This node: an attempt a peer runs for it under a lease that still holds is not interrupted. */
    self?: { nodeId: string; now: number },
  ): {
    requeued: JobRow[];
    failed: JobRow[];
  } {
    return this.transact((tx) => {
      const running = tx.select().from(jobs).where(eq(jobs.status, JobStatus.STARTED)).all();
      const requeued: JobRow[] = [];
      const failed: JobRow[] = [];
      for (const job of running) {
        if (self && job.currentAttemptId !== null) {
          const attempt = tx.select().from(attempts).where(eq(attempts.id, job.currentAttemptId)).get();
          const leased =
            attempt?.nodeId && attempt.nodeId !== self.nodeId && (attempt.leaseExpiresAt ?? 0) > self.now;
          // The peer goes on running and reporting; if it does not, the lease runs out (delegation.ts).
          if (leased) continue;
        }
        const lostBefore = tx
          .select({ n: sql<number>`count(*)` })
          .from(attempts)
          .where(and(eq(attempts.jobId, job.id), eq(attempts.exitCause, "lost")))
          .get()!.n;
        const verdict = decide(lostBefore);
        if (verdict.status === JobStatus.PENDING) {
          this.requeueTx(job, verdict.note ?? INTERRUPTED);
          requeued.push(job);
          continue;
        }
        this.closeLost(job, INTERRUPTED);
        this.move(job, verdict.status, job.currentAttemptId, verdict.note ?? "interrupted", {
          error: verdict.error ?? null,
          stoppedAt: Date.now(),
        });
        failed.push(job);
      }
      return { requeued, failed };
    });
  }

  /**
   * Cancels a job: a waiting one is REVOKED at once; a running one is REVOKED in the store first
   * (so it never starts again, even if the daemon dies before the kill), and the caller kills it.
   * Terminal jobs are left as they are. Returns the row after the call and whether it was running.
   * On disk once `synced()` resolves: await it before the client is told.
   */
  revoke(uuid: string): { job: JobRow; wasRunning: boolean } | null {
    return this.transact((tx) => {
      const job = tx.select().from(jobs).where(eq(jobs.uuid, uuid)).get();
      if (!job) return null;
      if (isTerminal(job.status)) return { job, wasRunning: false };
      const wasRunning = job.status === JobStatus.STARTED;
      const now = Date.now();
      this.move(job, JobStatus.REVOKED, job.currentAttemptId, "cancelled through the API", {
        stoppedAt: now,
        waitReason: null,
        error: "The job was cancelled",
      });
      return {
        job: {
          ...job,
          status: JobStatus.REVOKED,
          stoppedAt: now,
          waitReason: null,
          error: "The job was cancelled",
        },
        wasRunning,
      };
    });
  }

  /** Per queue: waiting and running counts and the oldest waiting job's submission time. */
  queueStats(): { queue: string; waiting: number; running: number; oldestWaitingAt: number | null }[] {
    const rows = this.db
      .select({
        queue: jobs.queue,
        status: jobs.status,
        count: sql<number>`count(*)`,
        oldest: sql<number | null>`min(${jobs.requestedAt})`,
      })
      .from(jobs)
      .where(inArray(jobs.status, [...WAITING, JobStatus.STARTED]))
      .groupBy(jobs.queue, jobs.status)
      .all();
    const byQueue = new Map<
      string,
      { queue: string; waiting: number; running: number; oldestWaitingAt: number | null }
    >();
    for (const row of rows) {
      const entry = byQueue.get(row.queue) ?? {
        queue: row.queue,
        waiting: 0,
        running: 0,
        oldestWaitingAt: null,
      };
      if (row.status === JobStatus.STARTED) entry.running += row.count;
      else {
        entry.waiting += row.count;
        if (row.oldest !== null && (entry.oldestWaitingAt === null || row.oldest < entry.oldestWaitingAt))
          entry.oldestWaitingAt = row.oldest;
      }
      byQueue.set(row.queue, entry);
    }
    return [...byQueue.values()];
  }

  /** Sets the wait reason of every waiting job of `queue` (null clears it). */
  setWaitReasonForQueue(queue: string, reason: string | null): void {
    this.db
      .update(jobs)
      .set({ waitReason: reason })
      .where(and(inArray(jobs.status, [...WAITING]), eq(jobs.queue, queue)))
      .run();
  }

  /**
   * Fenced: puts the job of a still-current attempt back to waiting, the attempt ended `stopped` (a
   * stop interrupted it) or `lost` (a peer's lease expired, or the peer restarted).
   */
  requeueAttempt(
    attemptId: number,
    reason: string,
    cause: "stopped" | "lost" = "stopped",
    /** The attempt's process group, when not written yet (as AttemptEnd.pgid). */
    pgid?: number,
  ): boolean {
    return this.transact(() => {
      const job = this.byCurrentAttempt.get({ attempt: attemptId });
      if (!job || job.status !== JobStatus.STARTED) return false;
      this.requeueTx(job, reason, cause, pgid);
      return true;
    });
  }

  /** When a finished job ended (a job cancelled before it started has no stop time: its request time). */
  private static readonly endedAt = sql<number>`coalesce(${jobs.stoppedAt}, ${jobs.requestedAt})`;

  /** Finished jobs that ended before `cutoff` and still have their files, oldest first. */
  filesToClean(cutoff: number, limit = 1000): JobRow[] {
    return this.db
      .select()
      .from(jobs)
      .where(
        and(inArray(jobs.status, [...TERMINAL]), isNull(jobs.filesCleanedAt), lt(JobStore.endedAt, cutoff)),
      )
      .orderBy(asc(jobs.id))
      .limit(limit)
      .all();
  }

  /** Records that the job's folder was removed; its downloads answer 410 from now on. */
  markFilesCleaned(jobId: number, at: number): void {
    this.db.update(jobs).set({ filesCleanedAt: at }).where(eq(jobs.id, jobId)).run();
  }

  /** Finished jobs that ended before `cutoff`, oldest first (for JOB_RETENTION). */
  finishedBefore(cutoff: number, limit = 1000): JobRow[] {
    return this.db
      .select()
      .from(jobs)
      .where(and(inArray(jobs.status, [...TERMINAL]), lt(JobStore.endedAt, cutoff)))
      .orderBy(asc(jobs.id))
      .limit(limit)
      .all();
  }

  /** Deletes finished jobs with their attempts and events; a job still waiting or running is kept. */
  deleteFinished(jobIds: number[]): number {
    if (jobIds.length === 0) return 0;
    return this.db.transaction((tx) => {
      const ids = tx
        .select({ id: jobs.id })
        .from(jobs)
        .where(and(inArray(jobs.id, jobIds), inArray(jobs.status, [...TERMINAL])))
        .all()
        .map((r) => r.id);
      if (ids.length === 0) return 0;
      tx.delete(jobEvents).where(inArray(jobEvents.jobId, ids)).run();
      tx.delete(attempts).where(inArray(attempts.jobId, ids)).run();
      tx.delete(jobs).where(inArray(jobs.id, ids)).run();
      return ids.length;
    });
  }

  /** Which of `uuids` have a job row. */
  knownUuids(uuids: string[]): Set<string> {
    const found = new Set<string>();
    for (let i = 0; i < uuids.length; i += 500) {
      const batch = uuids.slice(i, i + 500);
      for (const row of this.db.select({ uuid: jobs.uuid }).from(jobs).where(inArray(jobs.uuid, batch)).all())
        found.add(row.uuid);
    }
    return found;
  }
}
