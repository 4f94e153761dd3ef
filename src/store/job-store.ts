// The only code that reads and writes jobs, attempts and events. Every state change goes through
// `move`, which asks the state machine first and appends an event row in the same transaction.
import { and, asc, desc, eq, inArray, isNull, sql } from "drizzle-orm";
import { assertTransition, JobStatus, WAITING } from "../jobs/states.ts";
import type { Db } from "./db.ts";
import {
  type AttemptRow,
  attempts,
  type JobEventRow,
  type JobRow,
  jobEvents,
  jobs,
  type NewJobRow,
} from "./schema.ts";

type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

export interface AttemptEnd {
  cause: string;
  exitCode: number | null;
  signal: string | null;
  peakRssKb: number | null;
  error: string | null;
  stepsJson: string;
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
  constructor(readonly db: Db) {}

  private move(
    tx: Tx,
    job: JobRow,
    to: JobStatus,
    attemptId: number | null,
    detail: string | null,
    set: Partial<JobRow>,
  ) {
    assertTransition(job.status, to);
    tx.update(jobs)
      .set({ ...set, status: to })
      .where(eq(jobs.id, job.id))
      .run();
    tx.insert(jobEvents)
      .values({ jobId: job.id, attemptId, fromStatus: job.status, toStatus: to, at: Date.now(), detail })
      .run();
  }

  /** Inserts an accepted job (PENDING) with its first event; returns the stored row. */
  insert(values: Omit<NewJobRow, "status" | "id">): JobRow {
    return this.db.transaction((tx) => {
      const row = tx
        .insert(jobs)
        .values({ ...values, status: JobStatus.PENDING })
        .returning()
        .get();
      tx.insert(jobEvents).values({ jobId: row.id, toStatus: JobStatus.PENDING, at: row.requestedAt }).run();
      return row;
    });
  }

  get(uuid: string): JobRow | undefined {
    return this.db.select().from(jobs).where(eq(jobs.uuid, uuid)).get();
  }

  getById(id: number): JobRow | undefined {
    return this.db.select().from(jobs).where(eq(jobs.id, id)).get();
  }

  list(options: { limit: number; status?: string }): JobRow[] {
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
    return this.db.transaction((tx) => {
      const job = tx
        .select()
        .from(jobs)
        .where(and(inArray(jobs.status, [...WAITING]), eq(jobs.queue, queue)))
        .orderBy(desc(jobs.priority), asc(jobs.id))
        .limit(1)
        .get();
      if (!job) return null;
      const now = Date.now();
      const number =
        (tx.select({ n: sql<number>`count(*)` }).from(attempts).where(eq(attempts.jobId, job.id)).get()?.n ??
          0) + 1;
      const attempt = tx
        .insert(attempts)
        .values({ jobId: job.id, number, queue, slot, nodeId, startedAt: now })
        .returning()
        .get();
      this.move(tx, job, JobStatus.STARTED, attempt.id, `slot ${slot}`, {
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
    });
  }

  /** Records the child's process group, so a restarted daemon can sweep it. */
  setPgid(attemptId: number, pgid: number): void {
    this.db.update(attempts).set({ pgid }).where(eq(attempts.id, attemptId)).run();
  }

  /** Fenced: ignored unless `attemptId` is still the job's current attempt. */
  saveProgress(jobId: number, attemptId: number, progress: number, stepsJson: string): boolean {
    const updated = this.db
      .update(jobs)
      .set({ progress, stepsJson })
      .where(
        and(eq(jobs.id, jobId), eq(jobs.currentAttemptId, attemptId), eq(jobs.status, JobStatus.STARTED)),
      )
      .returning({ id: jobs.id })
      .all();
    return updated.length > 0;
  }

  /**
   * Closes an attempt and moves its job to the outcome's status. Fenced: a stale attempt (the job
   * moved on, was revoked, or a newer attempt owns it) only gets its attempt row closed.
   */
  finishAttempt(attemptId: number, end: AttemptEnd, outcome: JobOutcome): boolean {
    return this.db.transaction((tx) => {
      const now = Date.now();
      const { cause, ...rest } = end;
      tx.update(attempts)
        .set({ ...rest, exitCause: cause, endedAt: now })
        .where(and(eq(attempts.id, attemptId), isNull(attempts.endedAt)))
        .run();
      const job = tx.select().from(jobs).where(eq(jobs.currentAttemptId, attemptId)).get();
      if (!job || job.status !== JobStatus.STARTED) return false;
      const retrying = outcome.status === JobStatus.RETRY;
      this.move(tx, job, outcome.status, attemptId, end.cause, {
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

  /** Sets or clears why a waiting job is not running. */
  setWaitReason(jobId: number, reason: string | null): void {
    this.db.update(jobs).set({ waitReason: reason }).where(eq(jobs.id, jobId)).run();
  }

  /** Ends the job's current attempt as interrupted and puts the job back to waiting, keeping its place. */
  private requeueTx(tx: Tx, job: JobRow, reason: string): number | null {
    let pgid: number | null = null;
    if (job.currentAttemptId !== null) {
      const attempt = tx.select().from(attempts).where(eq(attempts.id, job.currentAttemptId)).get();
      pgid = attempt?.pgid ?? null;
      tx.update(attempts)
        .set({ endedAt: Date.now(), exitCause: "lost", error: reason })
        .where(and(eq(attempts.id, job.currentAttemptId), isNull(attempts.endedAt)))
        .run();
    }
    this.move(tx, job, JobStatus.PENDING, job.currentAttemptId, reason, {
      currentAttemptId: null,
      progress: null,
    });
    return pgid;
  }

  /**
   * At start: jobs left STARTED by a daemon that died have no live attempt. Close those attempts as
   * lost and put the jobs back to waiting, in their original order. Returns the process groups the
   * dead daemon had started, for the caller to sweep.
   */
  recoverInterrupted(reason: string): { requeued: JobRow[]; pgids: number[] } {
    return this.db.transaction((tx) => {
      const running = tx.select().from(jobs).where(eq(jobs.status, JobStatus.STARTED)).all();
      const pgids = running
        .map((job) => this.requeueTx(tx, job, reason))
        .filter((p): p is number => p !== null);
      return { requeued: running, pgids };
    });
  }

  /** Fenced: puts the job of a still-current attempt back to waiting (shutdown interrupted it). */
  requeueAttempt(attemptId: number, reason: string): boolean {
    return this.db.transaction((tx) => {
      const job = tx.select().from(jobs).where(eq(jobs.currentAttemptId, attemptId)).get();
      if (!job || job.status !== JobStatus.STARTED) return false;
      this.requeueTx(tx, job, reason);
      return true;
    });
  }

  /** Distinct queues that have waiting jobs, with their counts. */
  waitingQueues(): { queue: string; count: number }[] {
    return this.db
      .select({ queue: jobs.queue, count: sql<number>`count(*)` })
      .from(jobs)
      .where(inArray(jobs.status, [...WAITING]))
      .groupBy(jobs.queue)
      .all();
  }
}
