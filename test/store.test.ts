// The durable store (real SQLite files): migrations, claim order, fencing, recovery, events.
// Plus the pure rules it relies on: the state machine and progress folding.
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { migrate as drizzleMigrate } from "drizzle-orm/bun-sqlite/migrator";
import { migrations } from "../src/generated/embedded.ts";
import { emptyProgress, nextStep, percent, setTotal, stop } from "../src/jobs/progress.ts";
import {
  assertTransition,
  canTransition,
  IllegalTransition,
  isTerminal,
  JobStatus,
  TERMINAL,
  WAITING,
} from "../src/jobs/states.ts";
import { type Db, type EmbeddedMigration, openDatabase } from "../src/store/db.ts";
import { type AttemptEnd, type JobOutcome, JobStore } from "../src/store/job-store.ts";
import { tempDir } from "./helpers/daemon.ts";
import { jobValues } from "./helpers/job-values.ts";

const dirs: string[] = [];
function dbPath(): string {
  const dir = tempDir("pxs-store-");
  dirs.push(dir);
  return join(dir, "jobs.sqlite");
}
const opened: Db[] = [];
function open(path = dbPath(), embedded?: EmbeddedMigration[]): Db {
  const db = openDatabase(path, embedded);
  opened.push(db);
  return db;
}
/** The recovery's decision when every interrupted job runs again (the policy is tested in policy.test.ts). */
const requeue = (note: string) => () => ({ status: JobStatus.PENDING, note });

afterAll(() => {
  for (const db of opened) db.$client.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tables(db: Db): string[] {
  return (
    db.$client.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
      name: string;
    }[]
  ).map((r) => r.name);
}
function migrationRows(db: Db): { hash: string; created_at: number }[] {
  return db.$client.query("SELECT hash, created_at FROM __drizzle_migrations ORDER BY created_at").all() as {
    hash: string;
    created_at: number;
  }[];
}

describe("openDatabase and migrations", () => {
  test("an empty file gets the whole schema, WAL and FULL sync", () => {
    const db = open();
    expect(tables(db)).toEqual(
      expect.arrayContaining(["__drizzle_migrations", "attempts", "job_events", "jobs"]) as string[],
    );
    const indexes = (
      db.$client.query("SELECT name FROM sqlite_master WHERE type = 'index'").all() as { name: string }[]
    ).map((r) => r.name);
    expect(indexes).toEqual(
      expect.arrayContaining([
        "jobs_claim_idx",
        "jobs_uuid_unique",
        "attempts_job_idx",
        "job_events_job_idx",
      ]),
    );
    expect(migrationRows(db)).toHaveLength(migrations.length);
    expect(db.$client.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    // NORMAL by default; submissions and cancels commit with FULL (JobStore.durably).
    expect(db.$client.query("PRAGMA synchronous").get()).toEqual({ synchronous: 1 });
    expect(db.$client.query("PRAGMA foreign_keys").get()).toEqual({ foreign_keys: 1 });
  });

  test("opening an up-to-date database again changes nothing and keeps the data", () => {
    const path = dbPath();
    const first = open(path);
    const job = new JobStore(first).insert(jobValues());
    const rowsBefore = migrationRows(first);
    first.$client.close();
    const second = open(path);
    expect(migrationRows(second)).toEqual(rowsBefore);
    expect(new JobStore(second).get(job.uuid)).toEqual(job);
  });

  test("a database one migration behind gets the missing one, once, recorded in __drizzle_migrations", () => {
    const path = dbPath();
    open(path).$client.close();
    const last = migrations[migrations.length - 1]!;
    const extraSql =
      "CREATE TABLE extra(x integer);\n--> statement-breakpoint\nINSERT INTO extra(x) VALUES (42);";
    const extra: EmbeddedMigration = {
      tag: "0001_extra",
      when: last.when + 1,
      breakpoints: true,
      sql: extraSql,
    };

    const upgraded = open(path, [...migrations, extra]);
    expect(tables(upgraded)).toContain("extra");
    // Both statements of the breakpoint-split migration ran.
    expect(upgraded.$client.query("SELECT x FROM extra").all()).toEqual([{ x: 42 }]);
    const rows = migrationRows(upgraded);
    expect(rows).toHaveLength(migrations.length + 1);
    expect(rows.at(-1)).toEqual({
      hash: createHash("sha256").update(extraSql).digest("hex"),
      created_at: last.when + 1,
    });
    upgraded.$client.close();

    // Opening again with the same list applies nothing (a second CREATE TABLE would throw).
    const again = open(path, [...migrations, extra]);
    expect(migrationRows(again)).toHaveLength(migrations.length + 1);
    expect(again.$client.query("SELECT x FROM extra").all()).toEqual([{ x: 42 }]);
  });

  test("a migration that fails rolls back whole and is not recorded", () => {
    const path = dbPath();
    open(path).$client.close();
    const last = migrations[migrations.length - 1]!;
    const broken: EmbeddedMigration = {
      tag: "0001_broken",
      when: last.when + 1,
      breakpoints: true,
      sql: "CREATE TABLE half(x integer);\n--> statement-breakpoint\nTHIS IS NOT SQL;",
    };
    expect(() => openDatabase(path, [...migrations, broken])).toThrow();
    const db = open(path);
    expect(tables(db)).not.toContain("half");
    expect(migrationRows(db)).toHaveLength(migrations.length);
  });

  test("the embedded migrations record the same hashes as drizzle's own folder migrator", () => {
    const stockPath = dbPath();
    const stock = drizzle(stockPath);
    drizzleMigrate(stock, { migrationsFolder: join(import.meta.dir, "..", "drizzle") });
    const stockRows = stock.$client.query("SELECT hash, created_at FROM __drizzle_migrations").all();
    stock.$client.close();
    expect(migrationRows(open())).toEqual(stockRows as { hash: string; created_at: number }[]);
    // And a database drizzle's migrator made opens without re-applying anything.
    expect(migrationRows(open(stockPath))).toEqual(stockRows as { hash: string; created_at: number }[]);
  });
});

const END: AttemptEnd = {
  cause: "success",
  exitCode: 0,
  signal: null,
  peakRssKb: null,
  error: null,
  stepsJson: '[{"duration":0.5,"info":"done"}]',
};
const SUCCESS: JobOutcome = {
  status: JobStatus.SUCCESS,
  progress: 100,
  stepsJson: '[{"duration":0.5,"info":"done"}]',
  resultJson: '{"ok":true}',
  error: null,
};

describe("JobStore", () => {
  let store: JobStore;
  beforeEach(() => {
    store = new JobStore(open());
  });
  const statusOf = (uuid: string) => store.get(uuid)!.status;

  /** Claims every waiting cpu job, in the store's order; returns their names. */
  const claimAllNames = () => {
    const order: string[] = [];
    for (
      let claimed = store.claimNext("cpu", "cpu-0", "n");
      claimed;
      claimed = store.claimNext("cpu", "cpu-0", "n")
    )
      order.push(claimed.job.name!);
    return order;
  };

  test("claimNext: higher priority first, FIFO within a priority", () => {
    const names = ["p0-a", "p5-a", "p0-b", "pm1", "p5-b", "p0-c"];
    const priorities = [0, 5, 0, -1, 5, 0];
    names.forEach((name, i) => {
      store.insert(jobValues({ name, priority: priorities[i]! }));
    });
    const order = claimAllNames();
    expect(order).toEqual(["p5-a", "p5-b", "p0-a", "p0-b", "p0-c", "pm1"]);
  });

  test("claimNext orders PENDING and RETRY jobs together: priority first, then submission order", () => {
    // Each waiting status is looked up on its own (one index seek each): the two answers must
    // still merge into the one claim order.
    const retried = (name: string, priority: number) => {
      const job = store.insert(jobValues({ name, priority, queue: "gpu" }));
      const claimed = store.claimNext("gpu", "gpu-0", "n")!;
      store.finishAttempt(
        claimed.attempt.id,
        { ...END, cause: "memory" },
        { ...SUCCESS, status: JobStatus.RETRY, nextQueue: "cpu", nextTimeLimitS: 60 },
      );
      expect(statusOf(job.uuid)).toBe("RETRY");
    };
    retried("retry-p0-old", 0);
    store.insert(jobValues({ name: "pending-p0", priority: 0 }));
    retried("retry-p0-new", 0);
    store.insert(jobValues({ name: "pending-p5", priority: 5 }));
    retried("retry-p9", 9);
    const order = claimAllNames();
    expect(order).toEqual(["retry-p9", "pending-p5", "retry-p0-old", "pending-p0", "retry-p0-new"]);
  });

  test("claimNext takes only the asked queue and opens a numbered attempt", () => {
    const cpu = store.insert(jobValues({ queue: "cpu" }));
    const gpu = store.insert(jobValues({ queue: "gpu" }));
    expect(store.claimNext("gpuhigh", "gpuhigh-0", "n")).toBeNull();
    const claimed = store.claimNext("gpu", "gpu-0", "node-1")!;
    expect(claimed.job.uuid).toBe(gpu.uuid);
    expect(claimed.job.status).toBe("STARTED");
    expect(claimed.attempt).toMatchObject({ number: 1, queue: "gpu", slot: "gpu-0", nodeId: "node-1" });
    expect(store.get(gpu.uuid)!.currentAttemptId).toBe(claimed.attempt.id);
    expect(store.claimNext("gpu", "gpu-1", "node-1")).toBeNull();
    expect(statusOf(cpu.uuid)).toBe("PENDING");
  });

  test("fencing: a stale attempt's progress and outcome are ignored", () => {
    const job = store.insert(jobValues());
    const first = store.claimNext("cpu", "cpu-0", "n")!;
    store.recoverInterrupted(requeue("restart"));
    const second = store.claimNext("cpu", "cpu-1", "n")!;
    expect(second.job.uuid).toBe(job.uuid);
    expect(second.attempt.number).toBe(2);
    expect(store.saveProgress(job.id, second.attempt.id, 40, '[{"duration":-1,"info":"now"}]')).toBe(true);
    const before = store.get(job.uuid)!;

    expect(store.saveProgress(job.id, first.attempt.id, 90, '[{"duration":1,"info":"stale"}]')).toBe(false);
    expect(store.finishAttempt(first.attempt.id, END, SUCCESS)).toBe(false);
    expect(store.get(job.uuid)).toEqual(before);
    expect(before).toMatchObject({ status: "STARTED", progress: 40, currentAttemptId: second.attempt.id });
    // The stale attempt keeps the end it was given when it was lost.
    expect(store.attemptsOf(job.id)[0]).toMatchObject({ exitCause: "lost", exitCode: null });

    expect(store.finishAttempt(second.attempt.id, END, SUCCESS)).toBe(true);
    const done = store.get(job.uuid)!;
    expect(done).toMatchObject({ status: "SUCCESS", progress: 100, resultJson: '{"ok":true}' });
    expect(done.stoppedAt).not.toBeNull();
    // Once finished, even the attempt that owned it can write nothing more.
    expect(store.saveProgress(job.id, second.attempt.id, 10, "[]")).toBe(false);
    expect(
      store.finishAttempt(
        second.attempt.id,
        { ...END, cause: "exception" },
        { ...SUCCESS, status: "FAILURE" },
      ),
    ).toBe(false);
    expect(store.get(job.uuid)).toEqual(done);
    expect(store.attemptsOf(job.id)[1]).toMatchObject({ exitCause: "success", exitCode: 0 });
  });

  test("an outcome can carry the attempt's process group, written with the end", () => {
    const job = store.insert(jobValues());
    const claimed = store.claimNext("cpu", "cpu-0", "n")!;
    expect(store.attemptsOf(job.id)[0]!.pgid).toBeNull();
    expect(store.finishAttempt(claimed.attempt.id, { ...END, pgid: 4242 }, SUCCESS)).toBe(true);
    expect(store.attemptsOf(job.id)[0]).toMatchObject({ pgid: 4242, exitCause: "success" });
    // Left out, a pgid recorded earlier is kept.
    store.insert(jobValues());
    const next = store.claimNext("cpu", "cpu-0", "n")!;
    store.setPgid(next.attempt.id, 77);
    store.finishAttempt(next.attempt.id, END, SUCCESS);
    expect(store.attemptsOf(next.job.id)[0]!.pgid).toBe(77);
  });

  test("an outcome the state machine forbids throws and changes nothing", () => {
    const job = store.insert(jobValues());
    const claimed = store.claimNext("cpu", "cpu-0", "n")!;
    const before = store.get(job.uuid)!;
    const eventsBefore = store.eventsOf(job.id);
    expect(() =>
      store.finishAttempt(claimed.attempt.id, END, { ...SUCCESS, status: JobStatus.STARTED }),
    ).toThrow(IllegalTransition);
    expect(store.get(job.uuid)).toEqual(before);
    expect(store.eventsOf(job.id)).toEqual(eventsBefore);
    expect(store.attemptsOf(job.id)[0]!.endedAt).toBeNull();
  });

  test("a RETRY outcome moves the job to the next queue, and that queue claims it as attempt 2", () => {
    const job = store.insert(jobValues({ queue: "gpu" }));
    const first = store.claimNext("gpu", "gpu-0", "n")!;
    const applied = store.finishAttempt(
      first.attempt.id,
      { ...END, cause: "memory", exitCode: null, signal: "SIGKILL", error: "out of memory" },
      {
        status: JobStatus.RETRY,
        progress: 0,
        stepsJson: "[]",
        resultJson: null,
        error: "out of memory",
        nextQueue: "gpuhigh",
        nextTimeLimitS: 7200,
      },
    );
    expect(applied).toBe(true);
    expect(store.get(job.uuid)).toMatchObject({
      status: "RETRY",
      queue: "gpuhigh",
      timeLimitS: 7200,
      retry: 1,
    });
    expect(store.claimNext("gpu", "gpu-0", "n")).toBeNull();
    const second = store.claimNext("gpuhigh", "gpuhigh-0", "n")!;
    expect(second.job.uuid).toBe(job.uuid);
    expect(second.attempt).toMatchObject({ number: 2, queue: "gpuhigh" });
  });

  test("recoverInterrupted puts STARTED jobs back to PENDING in their order and closes their attempts as lost", () => {
    const a = store.insert(jobValues({ name: "a" }));
    const b = store.insert(jobValues({ name: "b" }));
    const waiting = store.insert(jobValues({ name: "waiting" }));
    const finished = store.insert(jobValues({ name: "finished", queue: "other" }));
    const ca = store.claimNext("cpu", "cpu-0", "n")!;
    const cb = store.claimNext("cpu", "cpu-1", "n")!;
    const cf = store.claimNext("other", "other-0", "n")!;
    store.finishAttempt(cf.attempt.id, END, SUCCESS);
    store.saveProgress(a.id, ca.attempt.id, 50, '[{"duration":-1,"info":"half"}]');
    const finishedBefore = store.get(finished.uuid)!;

    const { requeued, failed } = store.recoverInterrupted(requeue("the daemon died"));
    expect(requeued.map((j) => j.uuid).sort()).toEqual([a.uuid, b.uuid].sort());
    expect(failed).toEqual([]);
    for (const [job, claimed] of [
      [a, ca],
      [b, cb],
    ] as const) {
      expect(store.get(job.uuid)).toMatchObject({
        status: "PENDING",
        currentAttemptId: null,
        progress: null,
      });
      const attempt = store.attemptsOf(job.id)[0]!;
      expect(attempt.id).toBe(claimed.attempt.id);
      expect(attempt).toMatchObject({ exitCause: "lost", error: "the daemon died" });
      expect(attempt.endedAt).not.toBeNull();
    }
    expect(statusOf(waiting.uuid)).toBe("PENDING");
    expect(store.get(finished.uuid)).toEqual(finishedBefore);
    // Nothing left to recover the second time.
    expect(store.recoverInterrupted(requeue("again")).requeued).toEqual([]);
    // They keep their place: the oldest runs first again.
    expect(store.claimNext("cpu", "cpu-0", "n")!.job.uuid).toBe(a.uuid);
    expect(store.claimNext("cpu", "cpu-0", "n")!.job.uuid).toBe(b.uuid);
    expect(store.claimNext("cpu", "cpu-0", "n")!.job.uuid).toBe(waiting.uuid);
  });

  test("recoverInterrupted applies a failing verdict: the attempt is lost, the job FAILURE with the verdict's error", () => {
    const job = store.insert(jobValues());
    const claimed = store.claimNext("cpu", "cpu-0", "n")!;
    const seen: number[] = [];
    const { requeued, failed } = store.recoverInterrupted((lostBefore) => {
      seen.push(lostBefore);
      return { status: JobStatus.FAILURE, note: "poison", error: "interrupted too often" };
    });
    expect(seen).toEqual([0]);
    expect(requeued).toEqual([]);
    expect(failed.map((j) => j.uuid)).toEqual([job.uuid]);
    expect(store.get(job.uuid)).toMatchObject({ status: "FAILURE", error: "interrupted too often" });
    expect(store.attemptsOf(job.id)[0]).toMatchObject({ id: claimed.attempt.id, exitCause: "lost" });
  });

  test("every state change appends a job_events row", () => {
    const job = store.insert(jobValues());
    expect(store.eventsOf(job.id).map((e) => [e.fromStatus, e.toStatus])).toEqual([[null, "PENDING"]]);
    const first = store.claimNext("cpu", "cpu-0", "n")!;
    store.saveProgress(job.id, first.attempt.id, 10, "[]"); // progress is not a state change
    store.recoverInterrupted(requeue("restart"));
    const second = store.claimNext("cpu", "cpu-0", "n")!;
    store.finishAttempt(second.attempt.id, { ...END, cause: "exception" }, { ...SUCCESS, status: "FAILURE" });
    const events = store.eventsOf(job.id);
    expect(events.map((e) => [e.fromStatus, e.toStatus, e.attemptId])).toEqual([
      [null, "PENDING", null],
      ["PENDING", "STARTED", first.attempt.id],
      ["STARTED", "PENDING", first.attempt.id],
      ["PENDING", "STARTED", second.attempt.id],
      ["STARTED", "FAILURE", second.attempt.id],
    ]);
    expect(events.every((e) => e.jobId === job.id && e.at > 0)).toBe(true);
    expect(events[2]!.detail).toBe("restart");
    expect(events[4]!.detail).toBe("exception");
    // Another job's changes are not mixed in.
    const other = store.insert(jobValues());
    store.claimNext("cpu", "cpu-0", "n");
    expect(store.eventsOf(job.id)).toEqual(events);
    expect(store.eventsOf(other.id)).toHaveLength(2);
  });
});

describe("the job state machine", () => {
  const ALL = Object.values(JobStatus);

  test("terminal states have no exits", () => {
    expect([...TERMINAL].sort()).toEqual(["FAILURE", "REVOKED", "SUCCESS"]);
    for (const from of TERMINAL) {
      expect(isTerminal(from)).toBe(true);
      for (const to of ALL) {
        expect(canTransition(from, to)).toBe(false);
        expect(() => assertTransition(from, to)).toThrow(IllegalTransition);
      }
    }
  });

  test("waiting and running states can always end (FAILURE, REVOKED) and are not terminal", () => {
    for (const from of ALL.filter((s) => !TERMINAL.has(s))) {
      expect(isTerminal(from)).toBe(false);
      expect(canTransition(from, "FAILURE")).toBe(true);
      expect(canTransition(from, "REVOKED")).toBe(true);
    }
    expect(WAITING).toEqual(["PENDING", "RETRY"]);
  });

  test("illegal transitions throw, naming both ends; legal ones pass", () => {
    expect(() => assertTransition("PENDING", "SUCCESS")).toThrow("illegal job transition PENDING -> SUCCESS");
    expect(() => assertTransition("PENDING", "RETRY")).toThrow(IllegalTransition);
    expect(() => assertTransition("RETRY", "PENDING")).toThrow(IllegalTransition);
    expect(() => assertTransition("STARTED", "STARTED")).toThrow(IllegalTransition);
    expect(() => assertTransition("SENT", "STARTED")).toThrow(IllegalTransition);
    for (const [from, to] of [
      ["PENDING", "STARTED"],
      ["STARTED", "SUCCESS"],
      ["STARTED", "RETRY"],
      ["STARTED", "PENDING"],
      ["RETRY", "STARTED"],
    ] as const) {
      expect(() => assertTransition(from, to)).not.toThrow();
    }
  });

  // `in` would also match Object.prototype keys such as "toString".
  test("a status named like an Object.prototype key is an illegal transition, not a TypeError", () => {
    expect(() => assertTransition("toString", "STARTED")).toThrow(IllegalTransition);
    expect(() => assertTransition("constructor", "FAILURE")).toThrow(IllegalTransition);
  });
});

describe("progress folding", () => {
  test("percent is steps ended / total, clamped to 0..100", () => {
    let s = setTotal(emptyProgress(), 4);
    expect(percent(s)).toBe(0);
    s = nextStep(s, "a", 0);
    expect(percent(s)).toBe(0); // the open step is not ended
    s = nextStep(s, "b", 10);
    expect(percent(s)).toBe(25);
    s = stop(s, 20);
    expect(percent(s)).toBe(50);
    s = setTotal(s, 3);
    expect(percent(s)).toBe(66);
    for (let i = 0; i < 5; i++) s = nextStep(s, `more ${i}`, 30 + i);
    expect(percent(stop(s, 100))).toBe(100);
  });

  test("a total <= 0 (or not a number) counts as 1; fractions are truncated", () => {
    expect(setTotal(emptyProgress(), 0).total).toBe(1);
    expect(setTotal(emptyProgress(), -3).total).toBe(1);
    expect(setTotal(emptyProgress(), Number.NaN).total).toBe(1);
    expect(setTotal(emptyProgress(), Number.POSITIVE_INFINITY).total).toBe(1);
    expect(setTotal(emptyProgress(), 2.9).total).toBe(2);
    expect(percent(stop(nextStep(setTotal(emptyProgress(), 0), "only", 0), 5))).toBe(100);
  });

  test("next closes the previous step with its duration in seconds; the new one reads -1", () => {
    let s = nextStep(emptyProgress(), "load", 1000);
    expect(s.steps).toEqual([{ duration: -1, info: "load" }]);
    s = nextStep(s, "mesh", 3500);
    expect(s.steps).toEqual([
      { duration: 2.5, info: "load" },
      { duration: -1, info: "mesh" },
    ]);
    // A clock that went backwards gives 0, never a negative duration.
    s = nextStep(s, "save", 3000);
    expect(s.steps[1]).toEqual({ duration: 0, info: "mesh" });
  });

  test("stop closes the open step once: a second stop does not re-measure it", () => {
    let s = nextStep(emptyProgress(), "only", 1000);
    s = stop(s, 1250);
    expect(s.steps).toEqual([{ duration: 0.25, info: "only" }]);
    const again = stop(s, 9000);
    expect(again.steps).toEqual([{ duration: 0.25, info: "only" }]);
    expect(stop(emptyProgress(), 5).steps).toEqual([]);
  });

  test("an empty info becomes 'step N'", () => {
    let s = nextStep(emptyProgress(), "", 0);
    s = nextStep(s, "named", 1);
    s = nextStep(s, "", 2);
    expect(s.steps.map((step) => step.info)).toEqual(["step 1", "named", "step 3"]);
  });
});
