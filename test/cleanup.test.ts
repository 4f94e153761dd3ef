// The cleanup cron: folders of jobs finished more than CLEANUP_DELAY ago are removed, their rows
// stay (downloads then answer 410 Gone); JOB_RETENTION deletes old rows; running and waiting jobs
// are never touched; each sweep logs what it removed and the bytes it freed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { Cleanup } from "../src/daemon/cleanup.ts";
import { createLogger } from "../src/log/logger.ts";
import { JobFolders } from "../src/storage/job-folders.ts";
import { jobs } from "../src/store/schema.ts";
import { scriptFile, startTestDaemon, type TestDaemon } from "./helpers/daemon.ts";

const HOUR = 3600 * 1000;
const WRITER = `
  export async function main(ctx, params) {
    await Bun.write(ctx.outputDir("out.bin"), new Uint8Array(params.bytes ?? 1000));
    if (params.fail) throw new Error("failed on purpose");
    if (params.sleep) await Bun.sleep(params.sleep);
    return "ok";
  }`;

async function submit(d: TestDaemon, params: unknown, config: unknown = {}): Promise<string> {
  const res = await d.submit({
    script: scriptFile(WRITER),
    params: JSON.stringify(params),
    config: JSON.stringify(config),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { uuid: string }).uuid;
}

/** Moves a job's end (and request) time back, as if it had finished `ms` ago. */
function age(d: TestDaemon, uuid: string, ms: number): void {
  const at = Date.now() - ms;
  d.store.db.update(jobs).set({ requestedAt: at, stoppedAt: at }).where(eq(jobs.uuid, uuid)).run();
}

/** Same for a job that has not ended: only its request time moves. */
function ageRequest(d: TestDaemon, uuid: string, ms: number): void {
  d.store.db
    .update(jobs)
    .set({ requestedAt: Date.now() - ms })
    .where(eq(jobs.uuid, uuid))
    .run();
}

const folderOf = (d: TestDaemon, uuid: string) => join(d.dataDir, "jobs", uuid);

describe("a sweep with CLEANUP_ENABLED", () => {
  let d: TestDaemon;
  const ids: Record<string, string> = {};
  const lines: string[] = [];

  beforeAll(async () => {
    d = await startTestDaemon({ CLEANUP_ENABLED: "true", CLEANUP_DELAY: "3600", SLOTS: "cpu:2" });
    ids.oldSuccess = await submit(d, { bytes: 5000 });
    ids.oldFailure = await submit(d, { bytes: 7000, fail: true });
    ids.recent = await submit(d, { bytes: 100 });
    await d.waitFor(ids.oldSuccess);
    await d.waitFor(ids.oldFailure);
    await d.waitFor(ids.recent);
    ids.running = await submit(d, { sleep: 20000 });
    ids.waiting = await submit(d, {}, { queue: "nowhere" });
    await d.waitFor(ids.running, ["STARTED"]);
    age(d, ids.oldSuccess, 2 * HOUR);
    age(d, ids.oldFailure, 3 * HOUR);
    // Running and waiting jobs submitted long ago are still not finished: never touched.
    ageRequest(d, ids.running, 5 * HOUR);
    ageRequest(d, ids.waiting, 5 * HOUR);
    // A folder no job owns (an interrupted submission), old; and one made just now.
    ids.orphan = crypto.randomUUID();
    ids.freshOrphan = crypto.randomUUID();
    for (const orphan of [ids.orphan, ids.freshOrphan]) {
      mkdirSync(join(folderOf(d, orphan), "inputs"), { recursive: true });
      writeFileSync(join(folderOf(d, orphan), "inputs", "x.obj"), "12345");
    }
    const old = (Date.now() - 2 * HOUR) / 1000;
    utimesSync(folderOf(d, ids.orphan), old, old);
  });
  afterAll(() => d.close());

  test("removes only the folders of jobs finished more than CLEANUP_DELAY ago, and logs the bytes", async () => {
    const cleanup = new Cleanup(
      { enabled: true, delayS: 3600, cron: "0 0 * * * *", retentionS: 0 },
      d.store,
      new JobFolders(d.dataDir),
      createLogger("info", "json", (line) => lines.push(line)),
    );
    const report = await cleanup.sweep();
    expect(report.cleaned.sort()).toEqual([ids.oldSuccess!, ids.oldFailure!].sort());
    expect(report.orphans).toEqual([ids.orphan!]);
    expect(report.deleted).toEqual([]);
    expect(report.bytesFreed).toBeGreaterThanOrEqual(5000 + 7000 + 5);

    for (const key of ["oldSuccess", "oldFailure", "orphan"])
      expect(existsSync(folderOf(d, ids[key]!))).toBe(false);
    for (const key of ["recent", "running", "waiting", "freshOrphan"]) {
      expect(existsSync(folderOf(d, ids[key]!))).toBe(true);
    }

    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const removed = logged.filter((l) => l.msg === "cleanup removed job files");
    expect(removed.map((l) => l.job).sort()).toEqual([ids.oldSuccess, ids.oldFailure].sort());
    expect(removed.every((l) => (l.bytes as number) > 0)).toBe(true);
    const summary = logged.find((l) => l.msg === "cleanup sweep done")!;
    expect(summary).toMatchObject({ cleaned: 2, orphans: 1, bytesFreed: report.bytesFreed });
  });

  test("the rows stay, marked; every file route then answers 410 Gone", async () => {
    const uuid = ids.oldSuccess!;
    const state = await d.api(`/jobs/${uuid}`);
    expect(state.status).toBe(200);
    const details = (await (await d.api(`/jobs/${uuid}/details`)).json()) as Record<string, unknown>;
    expect(details.status).toBe("SUCCESS");
    expect(typeof details.files_cleaned_at).toBe("string");
    for (const path of ["outputs", "outputs/out.bin", "outputs/archive"]) {
      const res = await d.api(`/jobs/${uuid}/${path}`);
      expect(res.status).toBe(410);
      const body = (await res.json()) as { detail: { message: string; details: string } };
      expect(body.detail.message).toBe("Gone");
      expect(body.detail.details).toContain("removed by the cleanup");
    }
    expect((await d.api(`/jobs/${ids.recent}/outputs/out.bin`)).status).toBe(200);
  });

  test("the running and the waiting job are untouched and go on", async () => {
    expect((await (await d.api(`/jobs/${ids.running}`)).json()) as object).toMatchObject({
      status: "STARTED",
    });
    expect((await (await d.api(`/jobs/${ids.waiting}`)).json()) as object).toMatchObject({
      status: "PENDING",
    });
    expect(d.store.get(ids.running!)!.filesCleanedAt).toBeNull();
    expect(d.store.get(ids.waiting!)!.filesCleanedAt).toBeNull();
    // A second sweep finds nothing more to do.
    const again = await d.cleanup.sweep();
    expect(again).toEqual({ cleaned: [], deleted: [], orphans: [], bytesFreed: 0 });
  });
});

describe("JOB_RETENTION", () => {
  test("deletes the rows and folders of jobs finished longer ago; keeps the rest", async () => {
    const d = await startTestDaemon({ JOB_RETENTION: "86400" });
    try {
      const old = await submit(d, {});
      const recent = await submit(d, {});
      await d.waitFor(old);
      await d.waitFor(recent);
      const waiting = await submit(d, {}, { queue: "nowhere" });
      age(d, old, 2 * 86400 * 1000);
      ageRequest(d, waiting, 2 * 86400 * 1000);
      const report = await d.cleanup.sweep();
      expect(report.deleted).toEqual([old]);
      expect(report.cleaned).toEqual([]); // CLEANUP_ENABLED is off: only retention ran
      expect((await d.api(`/jobs/${old}`)).status).toBe(404);
      expect(existsSync(folderOf(d, old))).toBe(false);
      expect((await d.api(`/jobs/${recent}`)).status).toBe(200);
      expect((await d.api(`/jobs/${waiting}`)).status).toBe(200);
    } finally {
      await d.close();
    }
  });
});

describe("the schedule", () => {
  test("CLEANUP_CRON runs the sweep by itself (croner, seconds field)", async () => {
    const d = await startTestDaemon({
      CLEANUP_ENABLED: "true",
      CLEANUP_DELAY: "0",
      CLEANUP_CRON: "* * * * * *",
    });
    try {
      const uuid = await submit(d, {});
      await d.waitFor(uuid);
      const deadline = Date.now() + 5000;
      while ((await d.api(`/jobs/${uuid}/outputs`)).status !== 410) {
        if (Date.now() > deadline) throw new Error("the cron never cleaned the job");
        await Bun.sleep(100);
      }
      expect(existsSync(folderOf(d, uuid))).toBe(false);
    } finally {
      await d.close();
    }
  });

  test("an invalid CLEANUP_CRON stops the daemon at start with a clear message", async () => {
    await expect(startTestDaemon({ CLEANUP_CRON: "every tuesday" })).rejects.toThrow(/invalid CLEANUP_CRON/);
  });
});
