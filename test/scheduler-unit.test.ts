// The scheduler's decisions with a fake attempt runner (no process is spawned): parking and
// un-parking a parent that waits on its child, escalation on a node without gpuhigh, and a stop
// that puts what it interrupted back to waiting. The store is the real one, in memory.

import { afterEach, describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { workerDefaults } from "../src/daemon/engine.ts";
import { JobService } from "../src/daemon/job-service.ts";
import { EventBus } from "../src/events/bus.ts";
import { compileJob } from "../src/jobs/compile.ts";
import type { ExitCause } from "../src/jobs/policy.ts";
import { JobStatus } from "../src/jobs/states.ts";
import { silentLogger } from "../src/log/logger.ts";
import { MemoryWatch } from "../src/runner/memory-watch.ts";
import type { RunningChild, RunRequest, RunResult } from "../src/runner/runner.ts";
import { Scheduler } from "../src/scheduler/scheduler.ts";
import type { Slot } from "../src/scheduler/slots.ts";
import type { ChildMessage, Reply } from "../src/sdk/protocol.ts";
import { syncTree } from "../src/storage/fsync.ts";
import { JobFolders } from "../src/storage/job-folders.ts";
import { openDatabase } from "../src/store/db.ts";
import { JobStore } from "../src/store/job-store.ts";
import { tempDir } from "./helpers/daemon.ts";
import { jobValues } from "./helpers/job-values.ts";
import { eventually } from "./helpers/procs.ts";

/** The process group every fake child says it leads. */
const FAKE_PGID = 4242;

/** One attempt the scheduler started: the test plays the child (messages, end). */
class FakeChild {
  readonly replies: Reply[] = [];
  killedFor: string | null = null;
  private resolve!: (result: RunResult) => void;
  readonly handle: RunningChild;

  constructor(readonly request: RunRequest) {
    const done = new Promise<RunResult>((resolve) => {
      this.resolve = resolve;
    });
    this.handle = {
      pgid: Promise.resolve(FAKE_PGID),
      kill: (cause) => {
        this.killedFor = cause;
        this.end(cause === "revoked" ? "revoked" : "signal");
      },
      reply: (reply) => this.replies.push(reply),
      done,
    };
  }

  get jobId(): string {
    return this.request.spec.jobId;
  }

  send(message: ChildMessage): void {
    this.request.onMessage(message);
  }

  end(cause: ExitCause, result: unknown = null): void {
    const ok = cause === "success";
    this.resolve({
      cause,
      exitCode: ok ? 0 : 1,
      signal: null,
      peakRssKb: null,
      result: ok ? result : undefined,
      error: ok ? undefined : `the fake child ended: ${cause}`,
      durationMs: 1,
    });
  }
}

const slot = (id: string, queue: string, serves = [queue]): Slot => ({
  id,
  queue,
  serves,
  gpu: null,
  kind: "compute",
  fallback: {},
});

const schedulers: Scheduler[] = [];
afterEach(async () => {
  for (const s of schedulers.splice(0)) await s.shutdown(0);
});

/** `syncOutputs`: how a finished job's outputs are fsynced (default: the real syncTree on no folder). */
function setup(
  slots: Slot[],
  syncOutputs = (uuid: string) => syncTree(`/nonexistent/${uuid}/outputs`),
  warm: ConstructorParameters<typeof Scheduler>[0]["warm"] = null,
) {
  const bus = new EventBus();
  const store = new JobStore(openDatabase(":memory:"), bus);
  const children: FakeChild[] = [];
  const scheduler = new Scheduler({
    store,
    paths: {
      dir: (uuid) => `/nonexistent/${uuid}`,
      inputsDir: (uuid) => `/nonexistent/${uuid}/inputs`,
      outputsDir: (uuid) => `/nonexistent/${uuid}/outputs`,
      logFile: (uuid) => `/nonexistent/${uuid}/job.log`,
      syncOutputs,
    },
    scriptOf: () => "/nonexistent/job.ts",
    runAttempt: (request) => {
      const child = new FakeChild(request);
      children.push(child);
      return child.handle;
    },
    now: Date.now,
    logger: silentLogger,
    slots,
    nodeId: randomUUID(),
    memory: new MemoryWatch(),
    limits: {
      memoryKb: { default: 0, byQueue: {} },
      maxRetries: 1,
      retryTimeLimitS: 7200,
      maxLostAttempts: 3,
      logMaxBytes: 1e9,
    },
    bus,
    warm,
    spawnChild: async (parent, seq, spec) =>
      store.insert(jobValues({ queue: spec.queue ?? parent.queue, parentUuid: parent.uuid, spawnSeq: seq })),
  });
  schedulers.push(scheduler);
  const statusOf = (uuid: string) => store.get(uuid)!.status;
  const childOf = async (uuid: string, nth = 1) => {
    expect(await eventually(() => children.filter((c) => c.jobId === uuid).length >= nth, 2000)).toBe(true);
    return children.filter((c) => c.jobId === uuid)[nth - 1]!;
  };
  return { store, scheduler, children, statusOf, childOf, bus };
}

describe("scheduler with a fake runner", () => {
  test("a parent waiting on its child lends its slot, and gets it back before newer work", async () => {
    const { store, scheduler, statusOf, childOf } = setup([slot("cpu-0", "cpu")]);
    const parent = store.insert(jobValues({ name: "parent" }));
    scheduler.start();
    const p = await childOf(parent.uuid);
    p.send({ t: "spawn", req: 1, job: { entrypoint: "part", params: {} } });
    expect(await eventually(() => p.replies.some((r) => r.req === 1), 2000)).toBe(true); // once on disk
    const spawned = p.replies.find((r) => r.req === 1)!;
    expect(spawned.ok).toBe(true);
    const childUuid = (spawned as { value: string }).value;
    const later = store.insert(jobValues({ name: "later" })); // waits behind the parent
    p.send({ t: "wait", req: 2, ids: [childUuid] });

    // Parked: its slot runs the child, not the newer job.
    const c = await childOf(childUuid);
    expect(scheduler.runningOn("cpu-0")?.uuid).toBe(childUuid);
    expect(statusOf(later.uuid)).toBe(JobStatus.PENDING);
    c.end("success", { part: 1 });

    // The child's end answers the wait, and the parent has its slot back before `later` starts.
    expect(await eventually(() => p.replies.some((r) => r.req === 2), 2000)).toBe(true);
    expect(scheduler.runningOn("cpu-0")?.uuid).toBe(parent.uuid);
    expect(statusOf(later.uuid)).toBe(JobStatus.PENDING);
    const answer = p.replies.find((r) => r.req === 2) as {
      ok: true;
      value: unknown[];
    };
    expect(answer.value).toMatchObject([
      { id: childUuid, status: "SUCCESS", result: { part: 1 }, error: null },
    ]);

    p.end("success");
    expect((await childOf(later.uuid)).jobId).toBe(later.uuid);
    expect(statusOf(parent.uuid)).toBe(JobStatus.SUCCESS);
  });

  test("a slot's next warm child starts once the finished job's news has had its turn at I/O", async () => {
    const order: string[] = [];
    const warm = {
      fill: (slotId: string) => order.push(`fill ${slotId}`),
      take: () => null,
      close: () => {},
    };
    const { store, scheduler, childOf, bus } = setup([slot("cpu-0", "cpu")], undefined, warm);
    bus.subscribe((event) => {
      if (event.type !== "status" || event.to !== JobStatus.SUCCESS) return;
      // What a watcher's stream or a poll's answer writes goes out at the next I/O turn.
      order.push("success");
      setImmediate(() => order.push("I/O turn"));
    });
    const job = store.insert(jobValues());
    scheduler.start();
    (await childOf(job.uuid)).end("success");
    expect(await eventually(() => order.length === 3, 2000)).toBe(true);
    // Started at once, the spawn held the event loop (1 to 1.5 ms) before that news went out.
    expect(order).toEqual(["success", "I/O turn", "fill cpu-0"]);
  });

  test("a short job's process group is stored with its outcome; a job still running after 1 s gets it then", async () => {
    const { store, scheduler, statusOf, childOf } = setup([slot("cpu-0", "cpu")]);
    const short = store.insert(jobValues());
    const long = store.insert(jobValues());
    scheduler.start();
    (await childOf(short.uuid)).end("success");
    expect(await eventually(() => statusOf(short.uuid) === JobStatus.SUCCESS, 2000)).toBe(true);
    expect(store.attemptsOf(short.id)[0]).toMatchObject({ exitCause: "success", pgid: FAKE_PGID });

    const running = await childOf(long.uuid);
    await Bun.sleep(200);
    expect(store.attemptsOf(long.id)[0]).toMatchObject({ endedAt: null, pgid: null });
    expect(await eventually(() => store.attemptsOf(long.id)[0]!.pgid === FAKE_PGID, 2000)).toBe(true);
    expect(store.attemptsOf(long.id)[0]!.endedAt).toBeNull();
    running.end("success");
    expect(await eventually(() => statusOf(long.uuid) === JobStatus.SUCCESS, 2000)).toBe(true);
    expect(store.attemptsOf(long.id)[0]).toMatchObject({ exitCause: "success", pgid: FAKE_PGID });
  });

  test("a submission's job may end before its flush: whoever follows it is told at the store, first", async () => {
    const { store, scheduler, statusOf, childOf, children } = setup([slot("cpu-0", "cpu")]);
    scheduler.start();
    const folders = new JobFolders(tempDir());
    // The commit's flush held until the job has ended (a slow disk, a no-op job).
    const flushed = Promise.withResolvers<void>();
    const jobs = new JobService(
      { insert: (values) => store.insert(values), synced: () => flushed.promise },
      folders,
      scheduler,
      silentLogger,
      "node",
      {
        maxUploadBytes: 1e9,
        minFreeDiskBytes: 0,
        idleTimeoutMs: 0,
        archive: { maxEntries: 1, maxBytes: 1, maxRatio: 1, minFreeDisk: 0 },
      },
    );
    const stage = folders.stage();
    const source = "export async function main() { return 1; }";
    writeFileSync(join(stage.scriptDir, "job.ts"), source);
    const seen: string[] = [];
    const submitted = jobs.submit(stage, {
      definition: compileJob(
        { script: { process: "custom", source, fileName: "job.ts" }, name: null, params: {}, config: {} },
        workerDefaults({ defaultTimeLimitS: 60 }),
      ),
      scriptFile: "job.ts",
      inputFile: null,
      // Told before the job can start: no attempt of it yet.
      onStored: (job) => seen.push(`${job.uuid} ${statusOf(job.uuid)} ${children.length}`),
    });
    (await childOf(stage.uuid)).end("success");
    expect(seen).toEqual([`${stage.uuid} PENDING 0`]);
    expect(await eventually(() => statusOf(stage.uuid) === JobStatus.SUCCESS, 2000)).toBe(true);
    let answered = false;
    void submitted.then(() => {
      answered = true;
    });
    await Bun.sleep(20);
    expect(answered).toBe(false); // the client is told only once the commit is on disk
    flushed.resolve();
    expect((await submitted).job.uuid).toBe(stage.uuid);
  });

  test("an infrastructure failure on a node without gpuhigh retries on the highest tier served", async () => {
    const { store, scheduler, statusOf, childOf } = setup([slot("cpu-0", "cpu")]);
    const job = store.insert(jobValues());
    scheduler.start();
    (await childOf(job.uuid)).end("exit");
    const second = await childOf(job.uuid, 2);
    expect(second.request.spec).toMatchObject({ attempt: 2, queue: "cpu", retry: 1 });
    expect(second.request.timeLimitS).toBe(7200);
    const first = store.attemptsOf(job.id)[0]!;
    expect(first).toMatchObject({
      exitCause: "exit",
      note: "retry 1 runs on cpu: no slot on this node serves gpuhigh",
    });
    second.end("success", 42);
    expect(await eventually(() => statusOf(job.uuid) === JobStatus.SUCCESS, 2000)).toBe(true);
  });

  test("a stop kills what outlives the grace period and puts its job back to waiting", async () => {
    const { store, scheduler, statusOf, childOf } = setup([slot("cpu-0", "cpu")]);
    const job = store.insert(jobValues());
    scheduler.start();
    const running = await childOf(job.uuid);
    await scheduler.shutdown(20);
    expect(running.killedFor).toBe("stop");
    expect(statusOf(job.uuid)).toBe(JobStatus.PENDING);
    expect(store.attemptsOf(job.id)[0]).toMatchObject({
      exitCause: "stopped",
      error: "the daemon stopped while the job ran; it runs again",
      pgid: FAKE_PGID, // written with the interrupted end, as with any end
    });
  });

  test("a job that had ended with its result when the stop's kill came keeps its SUCCESS", async () => {
    const { store, scheduler, statusOf, childOf } = setup([slot("cpu-0", "cpu")]);
    const job = store.insert(jobValues());
    scheduler.start();
    const running = await childOf(job.uuid);
    // Its end and the kill crossed (it returned as the grace ran out, or its outputs were being
    // fsynced): the attempt ends as the process did, with its result.
    running.handle.kill = (cause) => {
      running.killedFor = cause;
      running.end("success", "finished in time");
    };
    await scheduler.shutdown(20);
    expect(running.killedFor).toBe("stop");
    expect(statusOf(job.uuid)).toBe(JobStatus.SUCCESS);
    expect(store.get(job.uuid)!.resultJson).toBe('"finished in time"');
    expect(store.attemptsOf(job.id).map((a) => a.exitCause)).toEqual(["success"]);
  });

  test("a success whose outputs cannot be fsynced is no SUCCESS: the attempt ends `disk`, retried as an infrastructure failure", async () => {
    const eio = Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
    const { store, statusOf, childOf, scheduler } = setup([slot("cpu-0", "cpu")], () => Promise.reject(eio));
    const job = store.insert(jobValues());
    scheduler.start();
    (await childOf(job.uuid)).end("success", "lost on the way");
    // Retried on this node's highest tier (no gpuhigh here): its second attempt starts.
    await childOf(job.uuid, 2);
    expect(statusOf(job.uuid)).toBe(JobStatus.STARTED);
    expect(store.attemptsOf(job.id)[0]).toMatchObject({
      exitCause: "disk",
      error: "The job's outputs could not be written to disk: EIO: i/o error, fsync",
    });
    expect(store.get(job.uuid)!.resultJson).toBeNull();
  });

  test("a cancel kills the running attempt and its waiting children; the job stays REVOKED", async () => {
    const { store, scheduler, statusOf, childOf } = setup([slot("cpu-0", "cpu")]);
    const parent = store.insert(jobValues());
    scheduler.start();
    const p = await childOf(parent.uuid);
    p.send({ t: "spawn", req: 1, job: { queue: "gpu", params: {} } }); // no slot serves gpu: it waits
    expect(await eventually(() => p.replies.length > 0, 2000)).toBe(true); // answered once on disk
    const childUuid = (p.replies[0] as { value: string }).value;
    await scheduler.cancel(parent.uuid);
    expect(p.killedFor).toBe("revoked");
    expect(statusOf(parent.uuid)).toBe(JobStatus.REVOKED);
    expect(statusOf(childUuid)).toBe(JobStatus.REVOKED);
    expect(await eventually(() => store.attemptsOf(parent.id)[0]!.exitCause === "revoked", 2000)).toBe(true);
  });
});
