// The policy table: what each way an attempt can end means for its job (jobs/policy.ts). Pure
// functions: no daemon, no process.

import { describe, expect, test } from "bun:test";
import {
  type AttemptCause,
  INFRASTRUCTURE_CAUSES,
  INTERRUPTED,
  interruptionVerdict,
  verdictFor,
} from "../src/jobs/policy.ts";
import { JobStatus } from "../src/jobs/states.ts";

const base = { retry: 0, maxRetries: 1, escalateTo: "gpuhigh", retryTimeLimitS: 7200 } as const;
const ALL: AttemptCause[] = [
  "success",
  "exception",
  "exit",
  "signal",
  "timeout",
  "memory",
  "log",
  "revoked",
  "spawn",
  "disk",
  "stopped",
];

describe("verdictFor", () => {
  test("the whole table on cpu, first attempt", () => {
    const table = Object.fromEntries(
      ALL.map((cause) => [cause, verdictFor({ ...base, cause, queue: "cpu" }).status]),
    );
    expect(table).toEqual({
      success: "SUCCESS",
      exception: "FAILURE", // the script's own verdict: final at once
      exit: "RETRY",
      signal: "RETRY",
      timeout: "RETRY",
      memory: "RETRY",
      log: "FAILURE", // a runaway log is the script's doing: not retried
      revoked: "REVOKED",
      spawn: "RETRY",
      disk: "RETRY", // its outputs could not be fsynced: the machine's failure, not the script's
      stopped: "PENDING", // the daemon's stop: it runs again, and it is not counted as lost
    });
    expect([...INFRASTRUCTURE_CAUSES].sort()).toEqual([
      "disk",
      "exit",
      "memory",
      "signal",
      "spawn",
      "timeout",
    ]);
  });

  test("an infrastructure failure on cpu or gpu escalates to gpuhigh with the retry time limit", () => {
    for (const queue of ["cpu", "gpu"]) {
      expect(verdictFor({ ...base, cause: "memory", queue })).toEqual({
        status: JobStatus.RETRY,
        nextQueue: "gpuhigh",
        nextTimeLimitS: 7200,
        note: `retry 1 escalated from ${queue} to gpuhigh`,
      });
    }
  });

  test("without gpuhigh here the retry goes to the highest tier served, and says so", () => {
    expect(verdictFor({ ...base, cause: "exit", queue: "cpu", escalateTo: "cpu" })).toMatchObject({
      status: JobStatus.RETRY,
      nextQueue: "cpu",
      note: "retry 1 runs on cpu: no slot on this node serves gpuhigh",
    });
  });

  test("final: on gpuhigh, on a custom queue, once retries are spent, or with nowhere to go", () => {
    expect(verdictFor({ ...base, cause: "timeout", queue: "gpuhigh" }).status).toBe(JobStatus.FAILURE);
    expect(verdictFor({ ...base, cause: "timeout", queue: "wine" }).status).toBe(JobStatus.FAILURE);
    expect(verdictFor({ ...base, cause: "timeout", queue: "cpu", retry: 1 }).status).toBe(JobStatus.FAILURE);
    expect(verdictFor({ ...base, cause: "timeout", queue: "cpu", escalateTo: null }).status).toBe(
      JobStatus.FAILURE,
    );
  });
});

describe("interruptionVerdict", () => {
  test("a crash re-queues the job until it has been interrupted maxLost times, then fails it as poison", () => {
    expect(interruptionVerdict({ crashed: true, lostBefore: 0, maxLost: 3 })).toEqual({
      status: JobStatus.PENDING,
      note: INTERRUPTED,
    });
    expect(interruptionVerdict({ crashed: true, lostBefore: 1, maxLost: 3 }).status).toBe(JobStatus.PENDING);
    const poison = interruptionVerdict({ crashed: true, lostBefore: 2, maxLost: 3 });
    expect(poison.status).toBe(JobStatus.FAILURE);
    expect(poison.error).toContain("interrupted 3 times");
  });

  test("a stop is never the job's fault: always again", () => {
    expect(interruptionVerdict({ crashed: false, lostBefore: 10, maxLost: 3 }).status).toBe(
      JobStatus.PENDING,
    );
  });
});
