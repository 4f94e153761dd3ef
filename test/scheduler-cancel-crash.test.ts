// Cancel, "never silently stuck", and crash/stop safety with a daemon in its own OS process.

import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { FROM_SOURCE } from "./helpers/cli.ts";
import { scriptFile, startTestDaemon, type TestDaemon, tempDir } from "./helpers/daemon.ts";
import { eventually, isGone } from "./helpers/procs.ts";
import { type ServeProcess, startServeProcess } from "./helpers/serve-process.ts";

const ROOT = join(import.meta.dir, "..");

let daemon: TestDaemon | null = null;
const processes: ServeProcess[] = [];
afterEach(async () => {
  await daemon?.close();
  daemon = null;
  for (const p of processes.splice(0)) p.proc.kill("SIGKILL");
});

const uuidOf = async (res: Response) => ((await res.json()) as { uuid: string }).uuid;

/** Starts a grandchild `sleep`, writes both pids to outputs, then waits for a long time. */
const LONG_WITH_GRANDCHILD = `export async function main(ctx) {
  const child = Bun.spawn(["sleep", "120"]);
  await Bun.write(ctx.outputDir("pids.json"), JSON.stringify({ script: process.pid, grandchild: child.pid }));
  ctx.progress.next("waiting");
  await Bun.sleep(120000);
}`;

async function pidsOf(dataDir: string, uuid: string): Promise<{ script: number; grandchild: number }> {
  const file = join(dataDir, "jobs", uuid, "outputs", "pids.json");
  expect(await eventually(() => existsSync(file) && readFileSync(file, "utf8").length > 0, 10000)).toBe(true);
  return JSON.parse(readFileSync(file, "utf8"));
}

describe("cancel", () => {
  test("a running job is REVOKED and its whole process tree is gone; cancel is idempotent", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1" });
    const uuid = await uuidOf(await daemon.submit({ script: scriptFile(LONG_WITH_GRANDCHILD) }));
    const pids = await pidsOf(daemon.dataDir, uuid);
    const res = await daemon.api(`/jobs/${uuid}`, { method: "DELETE" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ uuid, status: "REVOKED", error: "The job was cancelled" });
    expect(await eventually(() => isGone(pids.script) && isGone(pids.grandchild), 5000)).toBe(true);
    const details = await daemon.waitFor(uuid);
    expect(details.status).toBe("REVOKED");
    await eventually(() => false, 300); // let the attempt close
    const after = (await (await daemon.api(`/jobs/${uuid}/details`)).json()) as Record<string, unknown>;
    expect((after.attempts as { cause: string }[])[0]!.cause).toBe("revoked");
    const again = await daemon.api(`/jobs/${uuid}`, { method: "DELETE" });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { status: string }).status).toBe("REVOKED");
  });

  test("a waiting job is REVOKED and never starts, not even after a restart", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1" });
    const blocker = await uuidOf(await daemon.submit({ process: "sleep", params: '{"duration": 0.4}' }));
    const waiting = await uuidOf(await daemon.submit({ process: "api_test" }));
    expect((await daemon.api(`/jobs/${waiting}`, { method: "DELETE" })).status).toBe(200);
    await daemon.waitFor(blocker);
    const dataDir = daemon.dataDir;
    await daemon.close({ keepData: true });
    daemon = await startTestDaemon({ SLOTS: "cpu:1" }, dataDir);
    await Bun.sleep(300);
    const details = (await (await daemon.api(`/jobs/${waiting}/details`)).json()) as Record<string, unknown>;
    expect(details.status).toBe("REVOKED");
    expect(details.attempts).toEqual([]);
  });

  test("cancelling a finished job answers 409; an unknown job 404", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1" });
    const done = await uuidOf(await daemon.submit({ process: "api_test" }));
    await daemon.waitFor(done);
    const res = await daemon.api(`/jobs/${done}`, { method: "DELETE" });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { detail: { details: string } }).detail.details).toContain(
      "already finished with status SUCCESS",
    );
    const unknown = await daemon.api("/jobs/0b8e5b9a-2c4d-4f6e-9a1b-3c5d7e9f1a2b", { method: "DELETE" });
    expect(unknown.status).toBe(404);
    expect((await daemon.api(`/jobs/${done}`, { method: "DELETE", auth: false })).status).toBe(401);
  });
});

describe("never silently stuck", () => {
  test("a job whose queue no slot serves says why, in its details and in /queues; it runs once a slot serves it", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1", GPU_FALLBACK: "wait" });
    const uuid = await uuidOf(await daemon.submit({ process: "api_test", config: '{"queue":"gpu"}' }));
    const details = (await (await daemon.api(`/jobs/${uuid}/details`)).json()) as Record<string, unknown>;
    expect(details.status).toBe("PENDING");
    expect(details.wait_reason).toContain("No slot on this node serves queue 'gpu'");
    expect(details.wait_reason).toContain("With GPU_FALLBACK=cpu it would run on a cpu slot");
    const queues = (await (await daemon.api("/queues")).json()) as { queues: Record<string, unknown>[] };
    const gpu = queues.queues.find((q) => q.name === "gpu")!;
    expect(gpu).toMatchObject({ waiting: 1, running: 0, slots: 0, busy: 0, served: "none", served_by: [] });
    expect(gpu.wait_reason).toContain("'gpu'");
    expect(gpu.oldest_wait_s as number).toBeGreaterThanOrEqual(0);
    const dataDir = daemon.dataDir;
    await daemon.close({ keepData: true });
    daemon = await startTestDaemon({ SLOTS: "cpu:1,gpu:1" }, dataDir);
    const done = await daemon.waitFor(uuid);
    expect(done).toMatchObject({ status: "SUCCESS", wait_reason: null });
  });
});

describe("crash and stop safety (daemon in its own process)", () => {
  /** Sleeps on its first attempt only; writes a marker per attempt start and end. */
  const SLOW_FIRST = `export async function main(ctx) {
    const n = ctx.retry + "-" + Date.now();
    await Bun.write(ctx.outputDir("started-" + n), "");
    const first = !(await Bun.file(ctx.outputDir("once")).exists());
    await Bun.write(ctx.outputDir("once"), "");
    if (first) await Bun.sleep(4000);
    await Bun.write(ctx.outputDir("finished-" + n), "");
    return { first };
  }`;

  test("kill -9 while jobs run, restart: every job ends SUCCESS, none lost, the orphans were killed first", async () => {
    const dataDir = tempDir();
    const first = await startServeProcess(FROM_SOURCE, { dataDir, cwd: ROOT, env: { SLOTS: "cpu:2" } });
    processes.push(first);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(await uuidOf(await first.submit({ script: scriptFile(SLOW_FIRST), name: `j${i}` })));
    // Two run (each sleeping on its first attempt), three wait.
    expect(
      await eventually(
        () => ids.filter((id) => existsSync(join(dataDir, "jobs", id, "outputs", "once"))).length === 2,
        10000,
      ),
    ).toBe(true);
    first.proc.kill("SIGKILL");
    await first.proc.exited;

    const second = await startServeProcess(FROM_SOURCE, { dataDir, cwd: ROOT, env: { SLOTS: "cpu:2" } });
    processes.push(second);
    for (const id of ids) {
      const details = await second.waitFor(id, undefined, 60000);
      expect(details.status).toBe("SUCCESS");
      const outputs = readdirSync(join(dataDir, "jobs", id, "outputs"));
      const attempts = details.attempts as { cause: string }[];
      if (attempts.length === 2) {
        // Interrupted by the crash: the first attempt was lost and never finished (its orphan was killed).
        expect(attempts.map((a) => a.cause)).toEqual(["lost", "success"]);
        expect(outputs.filter((f) => f.startsWith("finished-")).length).toBe(1);
      } else {
        expect(attempts.map((a) => a.cause)).toEqual(["success"]);
      }
    }
    const lost = (
      await Promise.all(
        ids.map(
          async (id) =>
            ((await (await second.api(`/jobs/${id}/details`)).json()) as { attempts: unknown[] }).attempts
              .length,
        ),
      )
    ).filter((n) => n === 2).length;
    expect(lost).toBe(2);
  }, 90000);

  test("a job interrupted more than MAX_LOST_ATTEMPTS times is failed as poison", async () => {
    const dataDir = tempDir();
    const first = await startServeProcess(FROM_SOURCE, { dataDir, cwd: ROOT, env: { SLOTS: "cpu:1" } });
    processes.push(first);
    const id = await uuidOf(await first.submit({ script: scriptFile(LONG_WITH_GRANDCHILD) }));
    const pids = await pidsOf(dataDir, id);
    first.proc.kill("SIGKILL");
    await first.proc.exited;
    // The job's tree noticed its daemon's death and went with it (test/daemon-lifecycle.test.ts)...
    expect(await eventually(() => isGone(pids.script) && isGone(pids.grandchild), 5000)).toBe(true);
    const second = await startServeProcess(FROM_SOURCE, {
      dataDir,
      cwd: ROOT,
      env: { SLOTS: "cpu:1", MAX_LOST_ATTEMPTS: "1" },
    });
    processes.push(second);
    // ...and the restart counts the interrupted attempt against the job.
    const details = await second.waitFor(id);
    expect(details.status).toBe("FAILURE");
    expect(details.error).toContain("interrupted 1 times");
  }, 60000);

  test("SIGTERM: running jobs get the grace period, then are killed and re-queued; the daemon exits 0", async () => {
    const dataDir = tempDir();
    const first = await startServeProcess(FROM_SOURCE, {
      dataDir,
      cwd: ROOT,
      env: { SLOTS: "cpu:1", SHUTDOWN_GRACE: "1" },
    });
    processes.push(first);
    const id = await uuidOf(await first.submit({ script: scriptFile(SLOW_FIRST) }));
    expect(await eventually(() => existsSync(join(dataDir, "jobs", id, "outputs", "once")), 10000)).toBe(
      true,
    );
    first.proc.kill("SIGTERM");
    expect(await first.proc.exited).toBe(0);
    const second = await startServeProcess(FROM_SOURCE, { dataDir, cwd: ROOT, env: { SLOTS: "cpu:1" } });
    processes.push(second);
    const details = await second.waitFor(id);
    expect(details.status).toBe("SUCCESS");
    expect((details.attempts as { cause: string }[]).map((a) => a.cause)).toEqual(["stopped", "success"]);
    expect(details.result).toEqual({ first: false });
  }, 60000);
});

describe("a job whose folder vanished", () => {
  test("ends FAILURE with the reason instead of holding its slot forever", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1", MAX_RETRIES: "0" });
    const blocker = await uuidOf(await daemon.submit({ process: "sleep", params: '{"duration": 0.3}' }));
    const doomed = await uuidOf(await daemon.submit({ process: "api_test" }));
    rmSync(join(daemon.dataDir, "jobs", doomed), { recursive: true, force: true });
    await daemon.waitFor(blocker);
    const details = await daemon.waitFor(doomed);
    expect(details.status).toBe("FAILURE");
    expect(details.error).toContain("log cannot be opened");
    const after = await daemon.waitFor(await uuidOf(await daemon.submit({ process: "api_test" })));
    expect(after.status).toBe("SUCCESS");
    expect(((await (await daemon.api("/health")).json()) as { running: number }).running).toBe(0);
  });
});
