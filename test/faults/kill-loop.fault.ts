// Fault suite (npm run test:faults): kill -9 the daemon three times at random moments while 40
// two-second jobs run, restarting it on the same data folder each time. Every job must end SUCCESS
// with its outputs, its body must have completed once, the interrupted attempts must read
// `lost` then `success`, and nothing carrying the daemon's node marker may survive it.
// FAULT_SEED=<n> replays the kill moments of a run (the timing of the jobs around them differs).

import { afterEach, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { daemonProcesses, nodeMarker } from "../../src/runner/process-tree.ts";
import { FROM_SOURCE } from "../helpers/cli.ts";
import { scriptFile, tempDir } from "../helpers/daemon.ts";
import { eventually } from "../helpers/procs.ts";
import { type ServeProcess, startServeProcess } from "../helpers/serve-process.ts";

const ROOT = join(import.meta.dir, "../..");
const JOBS = 40;
const KILLS = 3;
/** How long after its daemon's death a job body may still complete (its child has not seen it yet). */
const NOTICE_MS = 50;

const processes: ServeProcess[] = [];
afterEach(() => {
  for (const p of processes.splice(0)) p.proc.kill("SIGKILL");
});

/** mulberry32: a small seeded generator, so a run's kill moments can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One attempt: a start marker, 2 s of work, an output, a completion marker. The markers go to a
 * folder of the test (params.marks), outside the data folder, named after the attempt's process.
 */
const JOB = `import { writeFileSync } from "node:fs";
export async function main(ctx, params) {
  const id = process.pid + "-" + Date.now();
  writeFileSync(params.marks + "/start-" + id, String(Date.now()));
  ctx.progress.next("working");
  await Bun.sleep(2000);
  await Bun.write(ctx.outputDir("result.txt"), "job " + params.i + "\\n");
  writeFileSync(params.marks + "/done-" + id, String(Date.now()));
  return { i: params.i };
}`;

/** The parent pid of a process (4th field of /proc/<pid>/stat), or null when it is gone. */
function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

test("kill -9 loop: 40 jobs, 3 kills of the daemon at random moments, every job SUCCESS once, no orphan", async () => {
  const seed = Number(process.env.FAULT_SEED ?? Date.now() % 2 ** 31);
  const random = seeded(seed);
  const started = Date.now();
  const dataDir = tempDir("pxs-fault-kill-");
  const marksRoot = tempDir("pxs-fault-kill-marks-");
  // A job caught by every kill must not be failed as poison: this test counts lost attempts itself.
  const env = { SLOTS: "cpu:2", MAX_LOST_ATTEMPTS: "10" };
  const serve = async () => {
    const p = await startServeProcess(FROM_SOURCE, { dataDir, cwd: ROOT, env });
    processes.push(p);
    return p;
  };

  let daemon = await serve();
  const marker = nodeMarker(readFileSync(join(dataDir, "node-id"), "utf8").trim());
  const ids: string[] = [];
  for (let i = 0; i < JOBS; i++) {
    const marks = join(marksRoot, String(i));
    mkdirSync(marks);
    const res = await daemon.submit({
      script: scriptFile(JOB),
      name: `kill-${i}`,
      params: JSON.stringify({ i, marks }),
    });
    expect(res.status).toBe(200);
    ids.push(((await res.json()) as { uuid: string }).uuid);
  }

  const killedAt: number[] = [];
  const survivors: number[] = [];
  for (let k = 0; k < KILLS; k++) {
    // A random moment 1 to 7 s after the daemon (re)started: jobs are mid-body, starting or ending.
    await Bun.sleep(1000 + Math.floor(random() * 6000));
    const done = ((await (await daemon.api("/jobs?status=SUCCESS")).json()) as { jobs: unknown[] }).jobs;
    expect(done.length).toBeLessThan(JOBS); // still something to interrupt
    killedAt.push(Date.now());
    daemon.proc.kill("SIGKILL");
    await daemon.proc.exited;
    // The jobs notice their daemon's death (stdin closes) and kill their own group; the warm
    // children waiting for a job exit too. Nothing carrying the marker may be left for the sweep.
    const gone = await eventually(() => daemonProcesses(marker).length === 0, 5000);
    if (!gone) survivors.push(...daemonProcesses(marker));
    daemon = await serve();
  }

  const details: Record<string, unknown>[] = [];
  for (const id of ids) details.push(await daemon.waitFor(id, undefined, 180000));
  const finishedAt = Date.now();

  // Before the final stop, the only marked processes are the daemon's own (idle) warm children.
  await Bun.sleep(500);
  const marked = daemonProcesses(marker);
  const foreign = marked.filter((pid) => parentOf(pid) !== daemon.proc.pid);
  daemon.proc.kill("SIGTERM");
  const exitCode = await daemon.proc.exited;
  const leftAfterStop = (await eventually(() => daemonProcesses(marker).length === 0, 5000))
    ? []
    : daemonProcesses(marker);

  let interrupted = 0;
  let jobsInterrupted = 0;
  const lateCompletions: string[] = [];
  const extraCompletions: string[] = [];
  const problems: string[] = [];
  details.forEach((job, i) => {
    const attempts = job.attempts as { cause: string }[];
    const causes = attempts.map((a) => a.cause);
    const lost = causes.filter((c) => c === "lost").length;
    interrupted += lost;
    if (lost > 0) jobsInterrupted++;
    if (job.status !== "SUCCESS") problems.push(`job ${i}: ${job.status} ${job.error}`);
    if (causes.join() !== [...Array(lost).fill("lost"), "success"].join())
      problems.push(`job ${i}: attempts ${causes.join(",")}`);
    const out = join(dataDir, "jobs", String(job.uuid), "outputs", "result.txt");
    if (!existsSync(out) || readFileSync(out, "utf8") !== `job ${i}\n`) problems.push(`job ${i}: no output`);
    if (JSON.stringify(job.result) !== JSON.stringify({ i })) problems.push(`job ${i}: result ${job.result}`);

    const marks = readdirSync(join(marksRoot, String(i)));
    const starts = marks.filter((m) => m.startsWith("start-")).length;
    const completions = marks
      .filter((m) => m.startsWith("done-"))
      .map((m) => Number(readFileSync(join(marksRoot, String(i), m), "utf8")))
      .sort((a, b) => a - b);
    // An attempt killed before its body started has no start marker.
    if (starts < 1 || starts > attempts.length)
      problems.push(`job ${i}: ${starts} starts, ${attempts.length} attempts`);
    if (completions.length === 0) problems.push(`job ${i}: its body never completed`);
    // At most one completion, the last attempt's. An earlier one is only the at-least-once window
    // (the body ended but the daemon died before it recorded the outcome): it must come before a
    // kill, or within the moment a child takes to see its daemon gone and kill its own group
    // (10 to 12 ms measured, test/daemon-lifecycle.test.ts; one body completed 3 ms after a kill).
    // A completion later than that, by an attempt that was lost, would be an orphan that kept running.
    for (const at of completions.slice(0, -1)) {
      const kill = killedAt.find((t) => t >= at - NOTICE_MS && t - at < 1000);
      if (kill === undefined)
        lateCompletions.push(`job ${i}: completed at ${at}, kills at ${killedAt.join(",")}`);
      else extraCompletions.push(`job ${i}: completed ${kill - at} ms before kill`);
    }
  });

  const seconds = ((finishedAt - started) / 1000).toFixed(1);
  console.log(
    `kill-loop (seed ${seed}): ${JOBS} jobs, ${KILLS} kills, ${interrupted} interrupted attempts in ${jobsInterrupted} jobs, ` +
      `${extraCompletions.length} bodies completed twice in the at-least-once window, ${survivors.length} survivors of a kill, ` +
      `total ${seconds} s`,
  );
  if (extraCompletions.length > 0) console.log(`  at-least-once window: ${extraCompletions.join("; ")}`);

  expect(problems).toEqual([]);
  expect(lateCompletions).toEqual([]);
  expect(survivors).toEqual([]);
  expect(foreign).toEqual([]);
  expect(marked.length).toBeLessThanOrEqual(2); // one warm child per slot at most
  expect(exitCode).toBe(0);
  expect(leftAfterStop).toEqual([]);
  expect(interrupted).toBeGreaterThan(0); // the kills did land on running jobs
  // Kept when an assertion failed, for a look at the daemon's log and the markers.
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(marksRoot, { recursive: true, force: true });
}, 300000);
