// JOBS_PER_CHILD > 1, the opt-in that lets one TS harness run several jobs: a harness comes back to
// its slot only after a job that ended cleanly, each job still gets its own folder, variables,
// log and a fresh load of its script, and anything a job leaves behind retires the harness.
import { afterEach, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { scriptFile, startTestDaemon, type TestDaemon, tempDir } from "./helpers/daemon.ts";
import { eventually, isGone } from "./helpers/procs.ts";

let daemon: TestDaemon | null = null;
afterEach(async () => {
  await daemon?.close();
  daemon = null;
});

const uuidOf = async (res: Response) => ((await res.json()) as { uuid: string }).uuid;

interface Seen {
  pid: number;
  loads: number;
  cwd: string;
  job: string;
  leaked: string | null;
}

// Counts its loads in a module-level variable and leaves a variable set: a fresh load per job
// answers 1 every time, and the variable of the job before must not be seen.
const WITNESS = `let loads = 0;
loads++;
export function main(ctx, params) {
  console.log("stdout of", process.env.PIXYZ_JOB_ID);
  console.error("stderr of", process.env.PIXYZ_JOB_ID);
  if (params?.big) process.stdout.write("x".repeat(params.big) + "END-OF-BIG\\n");
  if (params?.fail) throw new Error("failed on purpose");
  const leaked = process.env.PIXYZ_TEST_LEAK ?? null;
  process.env.PIXYZ_TEST_LEAK = process.env.PIXYZ_JOB_ID;
  if (params?.leaveBehind) Bun.spawn(["sleep", "60"], { stdio: ["ignore", "ignore", "ignore"] }).unref();
  return { pid: process.pid, loads, cwd: process.cwd(), job: process.env.PIXYZ_JOB_ID, leaked };
}`;

async function run(
  params: Record<string, unknown> = {},
): Promise<{ uuid: string; status: string; seen: Seen; log: string }> {
  const uuid = await uuidOf(
    await daemon!.submit({ script: scriptFile(WITNESS), params: JSON.stringify(params) }),
  );
  const details = await daemon!.waitFor(uuid);
  const log = await (await daemon!.api(`/jobs/${uuid}/logs`)).text();
  return { uuid, status: details.status as string, seen: details.result as Seen, log };
}

describe("JOBS_PER_CHILD", () => {
  test("a harness runs up to that many jobs, each with its own folder, log, variables and script load", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1", JOBS_PER_CHILD: "3" });
    const jobs = [];
    for (let i = 0; i < 5; i++) jobs.push(await run());
    for (const job of jobs) {
      expect(job.status).toBe("SUCCESS");
      expect(job.seen.loads).toBe(1);
      expect(job.seen.leaked).toBeNull();
      expect(job.seen.job).toBe(job.uuid);
      expect(job.seen.cwd).toBe(join(daemon.dataDir, "jobs", job.uuid));
      expect(job.log).toContain(`stdout of ${job.uuid}`);
      expect(job.log).toContain(`stderr of ${job.uuid}`);
      for (const other of jobs) if (other !== job) expect(job.log).not.toContain(other.uuid);
      expect(job.log).not.toContain("\x1e");
    }
    // The first job starts cold; the next three share the warm harness; the fifth needs a new one.
    const pids = jobs.map((job) => job.seen.pid);
    expect(new Set(pids.slice(1, 4)).size).toBe(1);
    expect(pids[0]).not.toBe(pids[1]);
    expect(pids[4]).not.toBe(pids[1]);
  });

  test("a job's output bigger than the pipe is all in its own log, none in the next job's", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1", JOBS_PER_CHILD: "10" });
    await run();
    const big = await run({ big: 1_000_000 });
    const after = await run();
    expect(big.seen.pid).toBe(after.seen.pid);
    // Booleans: a failure here should not print a megabyte of x.
    expect(big.log.includes(`${"x".repeat(1_000_000)}END-OF-BIG`)).toBe(true);
    expect(after.log.includes("xxxxxxxxxx")).toBe(false);
  });

  test("a job that failed leaves the harness to the next; one that left a process behind retires it", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1", JOBS_PER_CHILD: "10" });
    await run();
    const failed = await run({ fail: true });
    expect(failed.status).toBe("FAILURE");
    expect(failed.log).toContain("failed on purpose");
    const next = await run();
    expect(next.status).toBe("SUCCESS");
    expect(next.seen.pid).toBe((await run()).seen.pid);

    const leaving = await run({ leaveBehind: true });
    expect(leaving.status).toBe("SUCCESS");
    // Its group (the harness and the sleep) is killed, and the slot gets another harness.
    expect(await eventually(() => isGone(leaving.seen.pid), 5000)).toBe(true);
    const fresh = await run();
    expect(fresh.status).toBe("SUCCESS");
    expect(fresh.seen.pid).not.toBe(leaving.seen.pid);
  });

  test("a job cancelled while it runs stops its harness; the next job runs in another", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1", JOBS_PER_CHILD: "10" });
    await run();
    const harness = (await run()).seen.pid;
    const uuid = await uuidOf(
      await daemon.submit({
        script: scriptFile("export async function main() { await Bun.sleep(60_000); }"),
      }),
    );
    const status = async () =>
      ((await (await daemon!.api(`/jobs/${uuid}`)).json()) as { status: string }).status;
    for (let i = 0; i < 200 && (await status()) !== "STARTED"; i++) await Bun.sleep(25);
    expect((await daemon.api(`/jobs/${uuid}`, { method: "DELETE" })).status).toBe(200);
    expect((await daemon.waitFor(uuid)).status).toBe("REVOKED");
    expect(await eventually(() => isGone(harness), 5000)).toBe(true);
    const after = await run();
    expect(after.status).toBe("SUCCESS");
    expect(after.seen.pid).not.toBe(harness);
  });

  test("a harness taken for a job that cannot start (its folder vanished) is stopped, and the slot gets a new one", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1", JOBS_PER_CHILD: "10", MAX_RETRIES: "0" });
    await run();
    const harness = (await run()).seen.pid;
    const blocker = await uuidOf(await daemon.submit({ process: "sleep", params: '{"duration": 0.3}' }));
    const doomed = await uuidOf(await daemon.submit({ script: scriptFile(WITNESS) }));
    rmSync(join(daemon.dataDir, "jobs", doomed), { recursive: true, force: true });
    await daemon.waitFor(blocker);
    expect((await daemon.waitFor(doomed)).status).toBe("FAILURE");
    expect(await eventually(() => isGone(harness), 5000)).toBe(true);
    // Its slot is not left waiting for it: a new harness runs the next jobs, one after the other.
    const [next, after] = [await run(), await run()];
    expect(next.seen.pid).not.toBe(harness);
    expect(after.seen.pid).toBe(next.seen.pid);
  });

  test("a registered process is loaded afresh for each job, so an edit of its file is seen at once", async () => {
    const processDir = tempDir("pxs-processes-");
    writeFileSync(join(processDir, "witness.ts"), WITNESS);
    daemon = await startTestDaemon({ SLOTS: "cpu:1", JOBS_PER_CHILD: "10", PROCESS_DIR: processDir });
    const runProcess = async () => {
      const uuid = await uuidOf(await daemon!.submit({ process: "witness" }));
      return (await daemon!.waitFor(uuid)).result as Seen;
    };
    await runProcess();
    const [second, third] = [await runProcess(), await runProcess()];
    expect(second.pid).toBe(third.pid);
    expect([second.loads, third.loads]).toEqual([1, 1]);
    writeFileSync(
      join(processDir, "witness.ts"),
      "export function main() { return { pid: process.pid, edited: true }; }",
    );
    expect(await runProcess()).toEqual({ pid: third.pid, edited: true } as unknown as Seen);
    rmSync(processDir, { recursive: true, force: true });
  });

  test("by default every job is a process of its own", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1" });
    const pids = [];
    for (let i = 0; i < 3; i++) pids.push((await run()).seen.pid);
    expect(new Set(pids).size).toBe(3);
  });
});
