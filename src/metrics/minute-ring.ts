// The last hour, minute by minute, for the dashboard's charts: jobs submitted, started and
// finished (by status), and how long the started ones had waited. Fed by the event bus like the
// Prometheus metrics, kept in a ring of 60 small buckets (a few KB), never written anywhere: the
// hour starts empty with each daemon start.
import type { EventBus, JobEvent } from "../events/bus.ts";
import { JobStatus } from "../jobs/states.ts";

export const RING_MINUTES = 60;
const MINUTE_MS = 60_000;

export interface MinuteBucket {
  /** The minute's start, ms since the epoch. */
  at: number;
  submitted: number;
  started: number;
  succeeded: number;
  failed: number;
  revoked: number;
  /** Retries queued (an attempt failed on the infrastructure). */
  retried: number;
  /** Waits of the jobs that started in this minute: how many, their sum and the longest (ms). */
  waits: number;
  waitSumMs: number;
  waitMaxMs: number;
}

const empty = (at: number): MinuteBucket => ({
  at,
  submitted: 0,
  started: 0,
  succeeded: 0,
  failed: 0,
  revoked: 0,
  retried: 0,
  waits: 0,
  waitSumMs: 0,
  waitMaxMs: 0,
});

export class MinuteRing {
  private readonly buckets: MinuteBucket[] = [];
  /** Job -> when it last began waiting (PENDING or RETRY), for the wait of its start. */
  private readonly waitingSince = new Map<string, number>();
  private readonly unsubscribe: () => void;

  constructor(
    bus: EventBus,
    /** When a job was submitted, for one that was already waiting when this daemon started. */
    private readonly requestedAt: (uuid: string) => number | null,
    private readonly now: () => number = Date.now,
  ) {
    this.unsubscribe = bus.subscribe((event) => this.onEvent(event));
  }

  close(): void {
    this.unsubscribe();
  }

  /** The last RING_MINUTES minutes, oldest first, the current minute last; empty minutes included. */
  minutes(): MinuteBucket[] {
    const current = Math.floor(this.now() / MINUTE_MS) * MINUTE_MS;
    const byMinute = new Map(this.buckets.map((b) => [b.at, b]));
    const out: MinuteBucket[] = [];
    for (let i = RING_MINUTES - 1; i >= 0; i--) {
      const at = current - i * MINUTE_MS;
      out.push({ ...(byMinute.get(at) ?? empty(at)) });
    }
    return out;
  }

  private bucket(at: number): MinuteBucket {
    const minute = Math.floor(at / MINUTE_MS) * MINUTE_MS;
    const last = this.buckets.at(-1);
    if (last && last.at === minute) return last;
    // An event stamped in an earlier minute (a commit that straddled the minute) goes to its own.
    const found = this.buckets.find((b) => b.at === minute);
    if (found) return found;
    const bucket = empty(minute);
    this.buckets.push(bucket);
    this.buckets.sort((a, b) => a.at - b.at);
    const oldest = Math.floor(this.now() / MINUTE_MS) * MINUTE_MS - (RING_MINUTES - 1) * MINUTE_MS;
    while (this.buckets.length > 0 && this.buckets[0]!.at < oldest) this.buckets.shift();
    return bucket;
  }

  private onEvent(event: JobEvent): void {
    if (event.type !== "status") return;
    const { job, from, to, at } = event;
    const bucket = this.bucket(at);
    if (from === null && to === JobStatus.PENDING) bucket.submitted++;
    if (to === JobStatus.PENDING || to === JobStatus.RETRY) this.waitingSince.set(job, at);
    if (to === JobStatus.RETRY) bucket.retried++;
    if (to === JobStatus.STARTED) {
      bucket.started++;
      const since = this.waitingSince.get(job) ?? this.requestedAt(job);
      this.waitingSince.delete(job);
      if (since !== null) {
        const wait = Math.max(0, at - since);
        bucket.waits++;
        bucket.waitSumMs += wait;
        bucket.waitMaxMs = Math.max(bucket.waitMaxMs, wait);
      }
    }
    if (to === JobStatus.SUCCESS) bucket.succeeded++;
    if (to === JobStatus.FAILURE) bucket.failed++;
    if (to === JobStatus.REVOKED) bucket.revoked++;
    if (to === JobStatus.SUCCESS || to === JobStatus.FAILURE || to === JobStatus.REVOKED) {
      this.waitingSince.delete(job);
    }
  }
}
