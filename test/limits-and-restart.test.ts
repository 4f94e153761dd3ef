// How jobs end when they misbehave (time limit, exit, unserializable result) and what a daemon
// restart keeps: finished jobs stay as they were, an interrupted job runs again.

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { FROM_SOURCE } from "./helpers/cli.ts";
import { scriptFile, startTestDaemon, type TestDaemon, tempDir } from "./helpers/daemon.ts";
import { eventually, isGone, liveGroupMembers } from "./helpers/procs.ts";
import { startServeProcess } from "./helpers/serve-process.ts";

// bunfig.toml's [test] timeout is not read by bun 1.4.5: without this, tests get 5 s.
setDefaultTimeout(30_000);

/** Process groups of jobs these tests started on purpose to outlive a daemon: killed at the end whatever happens. */
const groupsToSweep: number[] = [];
afterAll(() => {
  for (const pgid of groupsToSweep) {
    if (liveGroupMembers(pgid).length === 0) continue;
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
});

type Details = Record<string, unknown> & {
  status: string;
  error: string | null;
  attempts: { number: number; cause: string | null; exit_code: number | null; signal: string | null }[];
};

async function submitScript(
  d: Pick<TestDaemon, "submit">,
  source: string,
  fields: Record<string, string> = {},
) {
  const res = await d.submit({ script: scriptFile(source), ...fields });
  const body = (await res.json()) as { uuid: string };
  // The body in the comparison says why, should the submission be refused.
  expect({ status: res.status, body }).toMatchObject({ status: 200 });
  return body.uuid;
}

/**
 * The process group the daemon recorded for attempt `n` of a job: with its end, or once it has
 * run for a second.
 */
async function pgidOf(d: TestDaemon, uuid: string, n = 1): Promise<number> {
  const recorded = () => {
    const job = d.store.get(uuid)!;
    return d.store.attemptsOf(job.id)[n - 1]?.pgid ?? 0;
  };
  expect(await eventually(() => recorded() > 1, 5000)).toBe(true);
  return recorded();
}

/** Reads "<script pid> <grandchild pid>" that the scripts below write first. */
function pidsWritten(path: string): { script: number; grandchild: number } {
  const [script, grandchild] = readFileSync(path, "utf8").trim().split(" ").map(Number);
  return { script: script!, grandchild: grandchild! };
}

// Starts a grandchild in the job's process group, writes both pids, then does `then`.
const withGrandchild = (then: string) => `
  export async function main(ctx) {
    const child = Bun.spawn(["sleep", "60"], { stdio: ["ignore", "ignore", "ignore"] });
    await Bun.write(ctx.outputDir("pids.txt"), process.pid + " " + child.pid);
    ${then}
  }`;

describe("limits and abnormal ends", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    // No retry: each abnormal end below is final at its first attempt, whatever the escalation policy.
    d = await startTestDaemon({ MAX_RETRIES: "0" });
  });
  afterAll(() => d.close());

  test("a job past its time limit ends FAILURE within seconds, and its whole process group is killed", async () => {
    const started = Date.now();
    const uuid = await submitScript(d, withGrandchild("await Bun.sleep(30000); return 'too late';"), {
      config: JSON.stringify({ time_limit: 1 }),
    });
    const details = (await d.waitFor(uuid, undefined, 20000)) as Details;
    const elapsed = Date.now() - started;
    expect(details.status).toBe("FAILURE");
    expect(details.error).toMatch(/time limit/i);
    expect(details.error).toContain("1 s");
    expect(details.time_limit).toBe(1);
    expect(details.result).toBeNull();
    expect(details.attempts).toHaveLength(1);
    expect(details.attempts[0]!.cause).toBe("timeout");
    // The script sleeps 30 s: ending well before that means the limit, not the script, ended it.
    expect(elapsed).toBeLessThan(10000);

    const pids = pidsWritten(join(d.dataDir, "jobs", uuid, "outputs", "pids.txt"));
    const pgid = await pgidOf(d, uuid);
    expect(pgid).toBe(pids.script);
    expect(await eventually(() => isGone(pids.script) && isGone(pids.grandchild), 5000)).toBe(true);
    expect(await eventually(() => liveGroupMembers(pgid).length === 0, 5000)).toBe(true);
  });

  test("what a job started and left running when it returned is killed with it", async () => {
    const uuid = await submitScript(d, withGrandchild("return 'done';"));
    const details = (await d.waitFor(uuid)) as Details;
    expect(details.status).toBe("SUCCESS");
    expect(details.result).toBe("done");
    const pids = pidsWritten(join(d.dataDir, "jobs", uuid, "outputs", "pids.txt"));
    expect(await eventually(() => isGone(pids.grandchild), 5000)).toBe(true);
    const pgid = await pgidOf(d, uuid);
    expect(await eventually(() => liveGroupMembers(pgid).length === 0, 5000)).toBe(true);
  });

  test("process.exit(3) ends FAILURE saying it exited with code 3", async () => {
    const uuid = await submitScript(
      d,
      `export async function main(ctx) { ctx.progress.total(2); ctx.progress.next("a"); process.exit(3); }`,
    );
    const details = (await d.waitFor(uuid)) as Details;
    expect(details.status).toBe("FAILURE");
    expect(details.error).toMatch(/exited with code 3\b/);
    expect(details.result).toBeNull();
    expect(details.attempts).toHaveLength(1);
    expect(details.attempts[0]).toMatchObject({ cause: "exit", exit_code: 3, signal: null });
  });

  test("a job killed by a signal ends FAILURE naming the signal", async () => {
    const uuid = await submitScript(d, `export function main() { process.kill(process.pid, "SIGKILL"); }`);
    const details = (await d.waitFor(uuid)) as Details;
    expect(details.status).toBe("FAILURE");
    expect(details.error).toContain("SIGKILL");
    expect(details.attempts[0]).toMatchObject({ cause: "signal", signal: "SIGKILL", exit_code: null });
  });

  test("a second progress.stop() does not re-measure the last step", async () => {
    const uuid = await submitScript(
      d,
      `export async function main(ctx) {
        ctx.progress.total(1);
        ctx.progress.next("short");
        await Bun.sleep(50);
        ctx.progress.stop();
        await Bun.sleep(1500);
        ctx.progress.stop();
        return "ok";
      }`,
    );
    const details = (await d.waitFor(uuid)) as Details;
    expect(details.status).toBe("SUCCESS");
    const steps = details.steps as { duration: number; info: string }[];
    expect(steps).toHaveLength(1);
    expect(steps[0]!.info).toBe("short");
    expect(steps[0]!.duration).toBeGreaterThanOrEqual(0.04);
    // Re-measured, it would read at least 1.55 s.
    expect(steps[0]!.duration).toBeLessThan(1.4);
  });

  test.each([
    ["a BigInt", "return { triangles: 12n };", /BigInt/],
    ["a cyclic object", "const a = { name: 'a' }; a.self = a; return a;", /cyclic|circular/i],
  ])("a result JSON cannot carry (%s) ends FAILURE with a clear error", async (_, body, pattern) => {
    const uuid = await submitScript(d, `export async function main() { ${body} }`);
    const details = (await d.waitFor(uuid)) as Details;
    expect(details.status).toBe("FAILURE");
    expect(details.result).toBeNull();
    expect(details.error).toMatch(pattern);
    expect(details.error).toMatch(/JSON|serializ/i);
    expect(details.attempts[0]!.cause).toBe("exception");
    const state = (await (await d.api(`/jobs/${uuid}`)).json()) as { error: string };
    expect(state.error).toMatch(pattern);
  });

  test("a function returned as the result ends FAILURE saying it is not a JSON value", async () => {
    const uuid = await submitScript(d, "export async function main() { return () => 1; }");
    const details = (await d.waitFor(uuid)) as Details;
    expect(details.status).toBe("FAILURE");
    expect(details.error).toContain("cannot be stored as JSON: a function is not a JSON value");
  });

  test("a job that throws in its last step keeps the progress it had reached", async () => {
    const uuid = await submitScript(
      d,
      `export async function main(ctx) {
        ctx.progress.total(2);
        ctx.progress.next("one");
        ctx.progress.next("two");
        throw new Error("broke in step two");
      }`,
    );
    const details = (await d.waitFor(uuid)) as Details;
    expect(details.status).toBe("FAILURE");
    expect((details as unknown as { progress: number }).progress).toBe(50);
  });

  test("a result JSON cannot carry: the error says the returned value is the problem", async () => {
    const uuid = await submitScript(d, "export async function main() { return { triangles: 12n }; }");
    const details = (await d.waitFor(uuid)) as Details;
    expect(details.error!.split("\n")[0]).toMatch(/return|result/i);
    expect(details.error).not.toContain("harness");
  });
});

describe("restart", () => {
  test("finished jobs survive a restart: same status, result, steps and details; outputs still download", async () => {
    const dataDir = tempDir();
    const d1 = await startTestDaemon({}, dataDir);
    let d2: TestDaemon | null = null;
    try {
      const bytes = new Uint8Array(64 * 1024).map((_, i) => (i * 31 + 7) % 256);
      const ok = await submitScript(
        d1,
        `export async function main(ctx, params) {
          ctx.progress.total(2);
          ctx.progress.next("write");
          await Bun.write(ctx.outputDir("sub/data.bin"), new Uint8Array(64 * 1024).map((_, i) => (i * 31 + 7) % 256));
          ctx.progress.next("report");
          await Bun.write(ctx.outputDir("report.txt"), "hello " + params.who);
          return { who: params.who, n: [1, 2, 3] };
        }`,
        { params: JSON.stringify({ who: "restart" }), name: "kept" },
      );
      const bad = await submitScript(
        d1,
        `export function main(ctx) { ctx.progress.total(3); ctx.progress.next("fail"); throw new Error("broken on purpose"); }`,
      );
      const sleep = (
        (await (await d1.submit({ process: "sleep", params: '{"duration":0.05}' })).json()) as {
          uuid: string;
        }
      ).uuid;
      const before = new Map<string, Record<string, unknown>>();
      for (const uuid of [ok, bad, sleep]) before.set(uuid, await d1.waitFor(uuid));
      expect(before.get(ok)).toMatchObject({ status: "SUCCESS", result: { who: "restart", n: [1, 2, 3] } });
      expect(before.get(bad)).toMatchObject({ status: "FAILURE" });
      expect(before.get(bad)!.error).toContain("broken on purpose");
      expect(before.get(sleep)).toMatchObject({ status: "SUCCESS", result: { sleep: 0.05 } });
      const listBefore = await (await d1.api("/jobs")).json();
      await d1.close({ keepData: true });

      d2 = await startTestDaemon({}, dataDir);
      expect(d2.url).not.toBe("");
      for (const [uuid, details] of before) {
        const after = await (await d2.api(`/jobs/${uuid}/details`)).json();
        expect(after).toEqual(details);
      }
      expect((before.get(ok)!.steps as { info: string }[]).map((s) => s.info)).toEqual(["write", "report"]);
      const listAfter = (await (await d2.api("/jobs")).json()) as {
        jobs: { uuid: string; status: string }[];
      };
      expect(listAfter).toEqual(listBefore as typeof listAfter);
      expect(listAfter.jobs.map((j) => [j.uuid, j.status])).toEqual([
        [sleep, "SUCCESS"],
        [bad, "FAILURE"],
        [ok, "SUCCESS"],
      ]);

      expect(await (await d2.api(`/jobs/${ok}/outputs`)).json()).toEqual({
        outputs: ["report.txt", "sub/data.bin"],
      });
      const report = await d2.api(`/jobs/${ok}/outputs/report.txt`);
      expect(report.status).toBe(200);
      expect(await report.text()).toBe("hello restart");
      const data = await d2.api(`/jobs/${ok}/outputs/sub/data.bin`);
      expect(data.status).toBe(200);
      expect(new Uint8Array(await data.arrayBuffer())).toEqual(bytes);
    } finally {
      await d1.close({ keepData: true });
      await d2?.close({ keepData: true });
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  // Sleeps long on its first attempt only: the marker in outputs/ says an earlier attempt ran.
  const interruptible = `
    import { existsSync } from "node:fs";
    export async function main(ctx) {
      const marker = ctx.outputDir("first-attempt.pid");
      if (!existsSync(marker)) {
        await Bun.write(marker, String(process.pid));
        await Bun.sleep(60000);
        return { ran: "first" };
      }
      return { ran: "again", retry: ctx.retry };
    }`;

  /** The pid `interruptible` wrote on its first attempt, once it is there. */
  async function firstAttemptPid(dataDir: string, uuid: string): Promise<number> {
    const marker = join(dataDir, "jobs", uuid, "outputs", "first-attempt.pid");
    expect(await eventually(() => existsSync(marker) && readFileSync(marker, "utf8") !== "", 15000)).toBe(
      true,
    );
    return Number(readFileSync(marker, "utf8"));
  }

  test("a job interrupted by a stop runs again after the restart (attempt 2) and succeeds", async () => {
    const dataDir = tempDir();
    const d1 = await startTestDaemon({}, dataDir);
    let d2: TestDaemon | null = null;
    try {
      const uuid = await submitScript(d1, interruptible);
      const firstPid = await firstAttemptPid(dataDir, uuid);
      groupsToSweep.push(firstPid);
      const pgid = await pgidOf(d1, uuid);

      await d1.stop(200);
      // The stop killed what outlived the grace period...
      expect(await eventually(() => isGone(firstPid) && liveGroupMembers(pgid).length === 0, 5000)).toBe(
        true,
      );
      // ...and left the job waiting, its attempt closed as stopped (not lost: no poison count).
      const db = new Database(join(dataDir, "jobs.sqlite"), { readonly: true });
      try {
        const row = db.query("SELECT id, status, current_attempt_id FROM jobs WHERE uuid = ?").get(uuid) as {
          id: number;
          status: string;
          current_attempt_id: number | null;
        };
        expect(row.status).toBe("PENDING");
        expect(row.current_attempt_id).toBeNull();
        const attempts = db
          .query("SELECT number, exit_cause, ended_at FROM attempts WHERE job_id = ? ORDER BY id")
          .all(row.id) as { number: number; exit_cause: string; ended_at: number | null }[];
        expect(attempts).toHaveLength(1);
        expect(attempts[0]!.exit_cause).toBe("stopped");
        expect(attempts[0]!.ended_at).not.toBeNull();
      } finally {
        db.close();
      }

      d2 = await startTestDaemon({}, dataDir);
      const details = (await d2.waitFor(uuid)) as Details;
      expect(details.status).toBe("SUCCESS");
      expect(details.result).toMatchObject({ ran: "again" });
      expect(details.attempts).toHaveLength(2);
      expect(details.attempts[0]).toMatchObject({ number: 1, cause: "stopped" });
      expect(details.attempts[1]).toMatchObject({ number: 2, cause: "success" });
    } finally {
      await d1.stop(0);
      await d2?.close({ keepData: true });
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("after a daemon crash (SIGKILL) the job dies with it and the restart runs it again", async () => {
    const root = tempDir();
    const dataDir = join(root, "data");
    const command = FROM_SOURCE;
    const first = await startServeProcess(command, { dataDir });
    let second: Awaited<ReturnType<typeof startServeProcess>> | null = null;
    try {
      const uuid = await submitScript(first, interruptible);
      const firstPid = await firstAttemptPid(dataDir, uuid);
      groupsToSweep.push(firstPid);

      first.proc.kill("SIGKILL");
      await first.proc.exited;
      // The harness sees its stdin close and kills its own process group: no attempt finishes
      // beside the one the restart runs.
      expect(await eventually(() => isGone(firstPid), 1000)).toBe(true);

      second = await startServeProcess(command, { dataDir });
      const details = (await second.waitFor(uuid)) as Details;
      expect(details.status).toBe("SUCCESS");
      expect(details.result).toMatchObject({ ran: "again" });
      expect(details.attempts).toHaveLength(2);
      expect(details.attempts[0]).toMatchObject({ number: 1, cause: "lost" });
      expect(details.attempts[1]).toMatchObject({ number: 2, cause: "success" });
    } finally {
      first.proc.kill("SIGKILL");
      second?.proc.kill("SIGKILL");
      await second?.proc.exited;
      rmSync(root, { recursive: true, force: true });
    }
  });
});
