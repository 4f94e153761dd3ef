// An idle warm harness rehearses a no-op job before its first real one (src/sdk/harness.ts): the
// real harness file, run by this Bun as the daemon runs it, with a rehearsal script of the test's
// own that leaves marks. The rehearsal must tell the daemon nothing and leave nothing behind for
// the job that follows; a harness given its spec at once does not rehearse.
import { expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JobSpec } from "../src/sdk/protocol.ts";
import { tempDir } from "./helpers/daemon.ts";
import { eventually } from "./helpers/procs.ts";

const HARNESS = join(import.meta.dir, "..", "src", "generated", "harness.js");

/** What the rehearsal does beyond a no-op: marks it ran, moves away, sets a variable, listens to SIGTERM. */
const REHEARSAL = `import { writeFileSync } from "node:fs";
export async function main(ctx, params) {
  writeFileSync(process.env.REHEARSAL_MARK, JSON.stringify({ job: process.env.PIXYZ_JOB_ID }));
  process.chdir("/");
  process.env.LEFT_BY_REHEARSAL = "1";
  ctx.progress.total(1);
  ctx.progress.next("rehearsal step");
  return "rehearsed";
}
`;

/** The job after it: what it sees of its process. */
const JOB = `export async function main(ctx, params) {
  return {
    cwd: process.cwd(),
    job: process.env.PIXYZ_JOB_ID,
    left: process.env.LEFT_BY_REHEARSAL ?? null,
    sigterm: process.listenerCount("SIGTERM"),
    params,
  };
}
`;

function harnessIn(dir: string) {
  const runtime = join(dir, "runtime");
  mkdirSync(runtime);
  copyFileSync(HARNESS, join(runtime, "harness.js"));
  writeFileSync(join(runtime, "rehearsal.ts"), REHEARSAL);
  const home = join(dir, "home");
  const jobDir = join(dir, "job");
  for (const folder of [home, jobDir]) mkdirSync(folder);
  writeFileSync(join(jobDir, "job.ts"), JOB);
  const mark = join(dir, "rehearsed.json");
  const proc = Bun.spawn([process.execPath, "--no-install", join(runtime, "harness.js")], {
    cwd: home,
    env: { PATH: process.env.PATH ?? "", REHEARSAL_MARK: mark },
    stdio: ["pipe", "pipe", "pipe", "pipe"],
  });
  const spec: JobSpec = {
    jobId: "job-1",
    cwd: jobDir,
    attempt: 1,
    queue: "cpu",
    retry: 0,
    script: join(jobDir, "job.ts"),
    entrypoint: "main",
    params: { n: 1 },
    inputFile: null,
    inputArchive: null,
    inputDir: jobDir,
    outputDir: jobDir,
  };
  const give = () => {
    proc.stdin.write(`${JSON.stringify(spec)}\n`);
    proc.stdin.flush();
  };
  /** Every channel line until the harness exits. */
  const lines = (async () => {
    const text = await new Response(Bun.file(proc.stdio[3] as number).stream()).text();
    await proc.exited;
    proc.stdin.end();
    return text
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  })();
  return { mark, jobDir, give, lines, proc };
}

test("an idle harness rehearses unheard, and its job finds its own folder, variables and handler", async () => {
  const h = harnessIn(tempDir());
  expect(await eventually(() => existsSync(h.mark), 5000)).toBe(true);
  expect(JSON.parse(readFileSync(h.mark, "utf8"))).toEqual({ job: "rehearsal" });
  h.give();
  const lines = await h.lines;
  expect(await h.proc.exited).toBe(0);
  // Only the job's result: the rehearsal's step and result went nowhere.
  expect(lines).toEqual([
    {
      t: "result",
      value: { cwd: h.jobDir, job: "job-1", left: null, sigterm: 1, params: { n: 1 } },
    },
  ]);
});

test("a harness given its spec at once runs the job without a rehearsal", async () => {
  const h = harnessIn(tempDir());
  h.give();
  const lines = await h.lines;
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ t: "result", value: { job: "job-1", left: null } });
  expect(existsSync(h.mark)).toBe(false);
});
