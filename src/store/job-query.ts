// The jobs list with filters and pages, for the dashboard (GET /jobs/search). Read-only.
//
// Pages are keyed on the job id (the submission order), newest first: a page asks for ids below
// the last one it showed (`before`), so page 1 and page 1,000 cost the same. The first page walks
// the table's rowid from the end and stops once it has `limit + 1` matching rows: with no filter
// that is 51 rows whatever the table holds. A filter that matches few rows (a rare status, a name)
// reads until it has found enough, at worst the whole table once (about 20 ms for 100,000 jobs,
// test/dashboard.test.ts measures it); a status filter asks jobs_claim_idx (status first) when the
// status is rare, see `byStatusIndex`. The per-status counts come from jobs_claim_idx alone
// (a covering index scan, no row read).
import type { Statement } from "bun:sqlite";
import { JobStatus } from "../jobs/states.ts";
import type { Db } from "./db.ts";

export interface JobFilter {
  /** Any of these statuses. */
  status?: JobStatus[];
  queue?: string;
  /** "custom" or a process name. */
  process?: string;
  /** Part of the job's name (case-insensitive for ASCII), or the start of its uuid. */
  name?: string;
  /** A node that ran one of its attempts (or that accepted it, when it never ran). */
  node?: string;
  /** Submitted at or after (ms since the epoch). */
  since?: number;
  /** Submitted before (ms since the epoch). */
  until?: number;
  /** Only jobs with an id below this one (the `next` of the previous page). */
  before?: number;
  limit: number;
}

/** One row of the list: what the table shows, nothing heavy (no params, result or steps). */
export interface JobListRow {
  id: number;
  uuid: string;
  name: string | null;
  process: string;
  queue: string;
  status: JobStatus;
  progress: number | null;
  /** The error's first 2,000 characters (the list shows its headline). */
  error: string | null;
  retry: number;
  parentUuid: string | null;
  requestedAt: number;
  startedAt: number | null;
  stoppedAt: number | null;
  /** The last attempt's node and slot; the accepting node and null before any attempt. */
  node: string | null;
  slot: string | null;
  /** The current (last) step's text. */
  step: string | null;
}

export interface JobPage {
  jobs: JobListRow[];
  /** The `before` of the next (older) page; null on the last page. */
  next: number | null;
}

const COLUMNS = `j.id, j.uuid, j.name, j.process, j.queue, j.status, j.progress,
  substr(j.error, 1, 2000) AS error, j.retry, j.parent_uuid AS parentUuid,
  j.requested_at AS requestedAt, j.started_at AS startedAt, j.stopped_at AS stoppedAt,
  j.steps_json AS stepsJson, j.origin_node AS originNode,
  (SELECT a.node_id FROM attempts a WHERE a.job_id = j.id ORDER BY a.id DESC LIMIT 1) AS attemptNode,
  (SELECT a.slot FROM attempts a WHERE a.job_id = j.id ORDER BY a.id DESC LIMIT 1) AS slot`;

/** A job "of" a node: one of its attempts ran there, or the node accepted it and it never ran. */
const ON_NODE = `(j.id IN (SELECT a.job_id FROM attempts a WHERE a.node_id = ?)
  OR (j.origin_node = ? AND j.current_attempt_id IS NULL))`;

/**
 * Up to this many jobs in the asked statuses, the page reads them through jobs_claim_idx and sorts
 * them (a few ms); above it they are common enough that walking the rowid from the end finds a
 * page of them quickly.
 */
const FEW = 5000;

interface RawRow extends Omit<JobListRow, "node" | "step"> {
  stepsJson: string | null;
  originNode: string | null;
  attemptNode: string | null;
}

export class JobQuery {
  private readonly statements = new Map<string, Statement>();

  constructor(private readonly db: Db) {}

  private prepare(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.$client.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /** One page of jobs, newest first. */
  page(filter: JobFilter): JobPage {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.before !== undefined) {
      where.push("j.id < ?");
      args.push(filter.before);
    }
    const statuses = filter.status ?? [];
    if (statuses.length > 0) {
      where.push(`j.status IN (${statuses.map(() => "?").join(", ")})`);
      args.push(...statuses);
    }
    if (filter.queue !== undefined) {
      where.push("j.queue = ?");
      args.push(filter.queue);
    }
    if (filter.process !== undefined) {
      where.push("j.process = ?");
      args.push(filter.process);
    }
    if (filter.name !== undefined && filter.name !== "") {
      const like = filter.name.replace(/[\\%_]/g, (c) => `\\${c}`);
      where.push("(j.name LIKE ? ESCAPE '\\' OR j.uuid LIKE ? ESCAPE '\\')");
      args.push(`%${like}%`, `${like.toLowerCase()}%`);
    }
    if (filter.node !== undefined) {
      where.push(ON_NODE);
      args.push(filter.node, filter.node);
    }
    if (filter.since !== undefined) {
      where.push("j.requested_at >= ?");
      args.push(filter.since);
    }
    if (filter.until !== undefined) {
      where.push("j.requested_at < ?");
      args.push(filter.until);
    }
    // Few jobs in the asked statuses: walk jobs_claim_idx (status, ...) and sort what it finds.
    // Otherwise the rowid from the end, which yields newest first with no sort and stops at the
    // page's end.
    const source = statuses.length > 0 && this.countIn(statuses) <= FEW ? "jobs j" : "jobs j NOT INDEXED";
    const sql = `SELECT ${COLUMNS} FROM ${source}${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY j.id DESC LIMIT ?`;
    const rows = this.prepare(sql).all(...args, filter.limit + 1) as RawRow[];
    const more = rows.length > filter.limit;
    const page = more ? rows.slice(0, filter.limit) : rows;
    return {
      jobs: page.map(({ stepsJson, originNode, attemptNode, ...row }) => ({
        ...row,
        node: attemptNode ?? originNode,
        step: lastStep(stepsJson),
      })),
      next: more ? page[page.length - 1]!.id : null,
    };
  }

  /** How many jobs are in these statuses: a range count on jobs_claim_idx, no row read. */
  private countIn(statuses: JobStatus[]): number {
    const sql = `SELECT count(*) AS n FROM jobs WHERE status IN (${statuses.map(() => "?").join(", ")})`;
    return (this.prepare(sql).get(...statuses) as { n: number }).n;
  }

  /** Jobs per status in the whole store, every status present (0 when none). */
  statusCounts(): Record<JobStatus, number> {
    const counts = Object.fromEntries(Object.values(JobStatus).map((s) => [s, 0])) as Record<
      JobStatus,
      number
    >;
    const rows = this.prepare("SELECT status, count(*) AS n FROM jobs GROUP BY status").all() as {
      status: JobStatus;
      n: number;
    }[];
    for (const { status, n } of rows) counts[status] = n;
    return counts;
  }
}

function lastStep(stepsJson: string | null): string | null {
  if (stepsJson === null || stepsJson === "[]") return null;
  try {
    const steps = JSON.parse(stepsJson) as { info?: unknown }[];
    const info = steps.at(-1)?.info;
    return typeof info === "string" ? info : null;
  } catch {
    return null;
  }
}
