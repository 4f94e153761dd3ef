// The durable model: one row per job, one per execution attempt, one per state change.
// Times are integers in milliseconds since the epoch (UTC); JSON payloads are TEXT.
import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { AttemptCause } from "../jobs/policy.ts";
import type { JobStatus } from "../jobs/states.ts";

export const jobs = sqliteTable(
  "jobs",
  {
    // The integer id is the submission order (FIFO within a priority) and the join key.
    id: integer("id").primaryKey({ autoIncrement: true }),
    uuid: text("uuid").notNull().unique(),
    name: text("name"),
    // "custom" or the name of a pre-registered process.
    process: text("process").notNull(),
    // For custom jobs: the script's file name inside the job's script folder. For processes: null.
    scriptFile: text("script_file"),
    // The uploaded input's file name inside the job's inputs folder, or null.
    inputFile: text("input_file"),
    entrypoint: text("entrypoint").notNull(),
    queue: text("queue").notNull(),
    priority: integer("priority").notNull().default(0),
    timeLimitS: integer("time_limit_s").notNull(),
    computeOnly: integer("compute_only", { mode: "boolean" }).notNull().default(false),
    rootFile: text("root_file"),
    paramsJson: text("params_json").notNull(),
    // The effective worker config after defaults, script declaration and user config were merged.
    configJson: text("config_json").notNull(),
    status: text("status").$type<JobStatus>().notNull(),
    progress: integer("progress"),
    stepsJson: text("steps_json"),
    resultJson: text("result_json"),
    error: text("error"),
    retry: integer("retry").notNull().default(0),
    // Fencing: only the attempt named here may write progress or an outcome.
    currentAttemptId: integer("current_attempt_id"),
    // Why a waiting job is not running (no slot serves its queue here, ...); null when nothing to say.
    waitReason: text("wait_reason"),
    parentUuid: text("parent_uuid"),
    // The n-th child its parent asked for within an attempt: a re-run parent asking again for its
    // n-th child gets the existing one, so a retry or a restart does not redo started work.
    spawnSeq: integer("spawn_seq"),
    // Federation seam: the node that accepted the job owns its row.
    originNode: text("origin_node"),
    requestedAt: integer("requested_at").notNull(),
    startedAt: integer("started_at"),
    stoppedAt: integer("stopped_at"),
    filesCleanedAt: integer("files_cleaned_at"),
  },
  (t) => [
    // The claim query walks this index in order: the next waiting job of a queue, highest priority
    // first, then oldest; so a dispatch costs one index seek whatever the backlog.
    index("jobs_claim_idx").on(t.status, t.queue, sql`${t.priority} DESC`, t.id),
    uniqueIndex("jobs_parent_seq_idx").on(t.parentUuid, t.spawnSeq),
  ],
);

export const attempts = sqliteTable(
  "attempts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    jobId: integer("job_id")
      .notNull()
      .references(() => jobs.id),
    // 1 for the first execution, 2 for the first retry, ...
    number: integer("number").notNull(),
    queue: text("queue").notNull(),
    slot: text("slot").notNull(),
    // Federation seam: which node runs it, and until when its lease holds.
    nodeId: text("node_id"),
    leaseExpiresAt: integer("lease_expires_at"),
    // The child's process group while it ran (for operators; kills use the live one, the restart
    // sweep finds leftovers by the node marker).
    pgid: integer("pgid"),
    startedAt: integer("started_at").notNull(),
    endedAt: integer("ended_at"),
    // jobs/policy.ts AttemptCause: success | exception | exit | signal | timeout | memory | log |
    // revoked | spawn | disk | stopped | lost
    exitCause: text("exit_cause").$type<AttemptCause>(),
    exitCode: integer("exit_code"),
    signal: text("signal"),
    peakRssKb: integer("peak_rss_kb"),
    stepsJson: text("steps_json"),
    error: text("error"),
    // What the scheduler decided after this attempt, in words (e.g. the escalation target).
    note: text("note"),
  },
  (t) => [index("attempts_job_idx").on(t.jobId)],
);

export const jobEvents = sqliteTable(
  "job_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    jobId: integer("job_id")
      .notNull()
      .references(() => jobs.id),
    attemptId: integer("attempt_id"),
    fromStatus: text("from_status").$type<JobStatus>(),
    toStatus: text("to_status").$type<JobStatus>().notNull(),
    at: integer("at").notNull().default(sql`(CAST(unixepoch('subsec') * 1000 AS INTEGER))`),
    detail: text("detail"),
  },
  (t) => [index("job_events_job_idx").on(t.jobId, t.id)],
);

export type JobRow = typeof jobs.$inferSelect;
export type NewJobRow = typeof jobs.$inferInsert;
export type AttemptRow = typeof attempts.$inferSelect;
export type JobEventRow = typeof jobEvents.$inferSelect;
