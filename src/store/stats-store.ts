// Read-only counts for the metrics: how many jobs each queue holds in each status. One grouped
// query that SQLite answers from jobs_claim_idx (status, queue, ...) without touching the rows.
import { sql } from "drizzle-orm";
import type { Db } from "./db.ts";
import { jobs } from "./schema.ts";

export interface QueueStatusCount {
  queue: string;
  status: string;
  count: number;
}

export class StatsStore {
  constructor(private readonly db: Db) {}

  /** Jobs per (queue, status), every status included (finished jobs stay until JOB_RETENTION). */
  countsByQueueAndStatus(): QueueStatusCount[] {
    return this.db
      .select({ queue: jobs.queue, status: jobs.status, count: sql<number>`count(*)` })
      .from(jobs)
      .groupBy(jobs.status, jobs.queue)
      .all();
  }
}
