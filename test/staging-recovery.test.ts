// A submission's folder is renamed out of staging without an fsync of jobs/ (the row's fsynced
// commit follows it). A power loss may undo that rename: the next start must put the folder of a
// stored job back in place, and still drop what an unfinished submission left in staging. Staging
// folders are also made ahead of the submissions that take them (JobFolders.prepareStages).
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { JobFolders } from "../src/storage/job-folders.ts";
import { scriptFile, startTestDaemon, type TestDaemon, tempDir } from "./helpers/daemon.ts";
import { eventually } from "./helpers/procs.ts";

const daemons: TestDaemon[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.close();
});

test("a stored job whose folder is back in staging is moved into place at start and runs", async () => {
  const dataDir = tempDir();
  // A job that cannot run (only a queue with no slot) stays PENDING across the restart.
  const first = await startTestDaemon({ SLOTS: "cpu:1" }, dataDir);
  const res = await first.submit({
    script: scriptFile("export async function main() { return 'ran'; }"),
    config: JSON.stringify({ queue: "later" }),
  });
  expect(res.status).toBe(200);
  const { uuid } = (await res.json()) as { uuid: string };
  expect((await first.waitFor(uuid, ["PENDING"])).status).toBe("PENDING");
  // Once answered, the next submissions' folders are made ahead.
  const readyDir = join(dataDir, "jobs", ".staging", ".ready");
  expect(await eventually(() => existsSync(readyDir) && readdirSync(readyDir).length === 4, 2000)).toBe(true);
  await first.close({ keepData: true });

  // What a power loss after the row's commit but before jobs/ reached the disk leaves.
  const jobs = join(dataDir, "jobs");
  renameSync(join(jobs, uuid), join(jobs, ".staging", uuid));
  // And an unfinished submission: staged files with no row.
  const stray = join(jobs, ".staging", "00000000-0000-4000-8000-000000000000");
  mkdirSync(join(stray, "script"), { recursive: true });
  writeFileSync(join(stray, "script", "x.ts"), "export {};");

  const second = await startTestDaemon({ SLOTS: "cpu:1,later:1" }, dataDir);
  daemons.push(second);
  expect(existsSync(join(jobs, uuid, "script"))).toBe(true);
  expect(readdirSync(join(jobs, ".staging"))).toEqual([]);
  expect(existsSync(join(jobs, "00000000-0000-4000-8000-000000000000"))).toBe(false);
  const done = await second.waitFor(uuid);
  expect(done.status).toBe("SUCCESS");
  expect(done.result).toBe("ran");
});

describe("staging folders made ahead", () => {
  const ready = (folders: JobFolders) => readdirSync(join(folders.staging, ".ready")).sort();
  const madeAll = async (folders: JobFolders, count: number) =>
    expect(
      await eventually(
        () => existsSync(join(folders.staging, ".ready")) && ready(folders).length === count,
        2000,
      ),
    ).toBe(true);

  test("a submission takes one made ahead (moved to staging under its uuid), and it is made again", async () => {
    const folders = new JobFolders(tempDir());
    // None before the first submission asks: the first stage is made in place.
    const first = folders.stage();
    expect(readdirSync(first.dir).sort()).toEqual(["inputs", "outputs", "script"]);
    first.discard();
    folders.prepareStages();
    await madeAll(folders, 4);
    const made = ready(folders);
    for (const uuid of made)
      expect(readdirSync(join(folders.staging, ".ready", uuid)).sort()).toEqual([
        "inputs",
        "outputs",
        "script",
      ]);

    const stage = folders.stage();
    expect(made).toContain(stage.uuid);
    expect(stage.dir).toBe(join(folders.staging, stage.uuid));
    expect(readdirSync(stage.dir).sort()).toEqual(["inputs", "outputs", "script"]);
    expect(ready(folders)).toHaveLength(3);
    writeFileSync(join(stage.scriptDir, "job.ts"), "export {};");
    await stage.commit(false);
    expect(existsSync(join(folders.dir(stage.uuid), "script", "job.ts"))).toBe(true);
    folders.prepareStages();
    await madeAll(folders, 4);
  });

  test("none are made while a submission is under way: only once every stage taken was committed or dropped", async () => {
    const folders = new JobFolders(tempDir());
    const a = folders.stage();
    const b = folders.stage();
    folders.prepareStages();
    await Bun.sleep(100);
    expect(existsSync(join(folders.staging, ".ready"))).toBe(false);
    await a.commit(false);
    folders.prepareStages();
    await Bun.sleep(100);
    expect(existsSync(join(folders.staging, ".ready"))).toBe(false);
    b.discard();
    b.discard(); // twice: still one stage less, not two
    const c = folders.stage();
    folders.prepareStages();
    await Bun.sleep(100);
    expect(existsSync(join(folders.staging, ".ready"))).toBe(false);
    c.discard();
    folders.prepareStages();
    await madeAll(folders, 4);
  });

  test("closed job folders (JOB_USER) are made ahead 0700 too", async () => {
    const folders = new JobFolders(tempDir(), true);
    folders.prepareStages();
    await madeAll(folders, 4);
    expect(statSync(folders.stage().dir).mode & 0o777).toBe(0o700);
  });

  test("the next start clears them with staging, moving a stored job's folder found there into place; one removed by hand is skipped", async () => {
    const dataDir = tempDir();
    const folders = new JobFolders(dataDir);
    folders.prepareStages();
    await madeAll(folders, 4);
    rmSync(join(folders.staging, ".ready", ready(folders)[0]!), { recursive: true });
    // Whichever ones are left, each stage is a whole folder.
    for (let i = 0; i < 5; i++) {
      const stage = folders.stage();
      expect(readdirSync(stage.dir).sort()).toEqual(["inputs", "outputs", "script"]);
      stage.discard();
    }

    folders.prepareStages();
    await madeAll(folders, 4);
    // A stored job's folder found back in .ready (both of its renames undone by a power loss).
    const stored = folders.stage();
    writeFileSync(join(stored.scriptDir, "job.ts"), "export {};");
    renameSync(stored.dir, join(folders.staging, ".ready", stored.uuid));
    const restarted = new JobFolders(dataDir);
    expect(restarted.recoverStaging((uuid) => uuid === stored.uuid)).toEqual([stored.uuid]);
    expect(existsSync(join(restarted.dir(stored.uuid), "script", "job.ts"))).toBe(true);
    expect(readdirSync(restarted.staging)).toEqual([]);
    expect(readdirSync(restarted.stage().dir).sort()).toEqual(["inputs", "outputs", "script"]);
  });
});
