// Throughput, latency and idle memory of the daemon, measured side by side with the floor (a bare
// spawn of the same no-op TS child, with the runtime command the runner uses), in one run.
//
//   bun bench/throughput.ts [--jobs 200] [--source] [--json]
//
// --source runs the daemon from src/ even when dist/pixyz-scheduler exists; --json also prints the
// numbers as one JSON line. docs/performance.md lists the targets and records measured runs.
// Nothing here asserts: it reports.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  childRuntime,
  client,
  loadavg,
  measureLatency,
  measureThroughput,
  ms,
  NOOP_CHILD,
  NOOP_JOB,
  ROOT,
  rssKb,
  spawnSeries,
  spawnToExit,
  startDaemon,
  usesBinary,
} from "./lib.ts";

const { values: args } = parseArgs({
  options: {
    jobs: { type: "string", default: "200" },
    source: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const JOBS = Number(args.jobs);

const useBinary = usesBinary(args.source);

const work = mkdtempSync(join(tmpdir(), "pxs-bench-"));
const noopPath = join(work, "noop.ts");
writeFileSync(noopPath, NOOP_CHILD);

// ---------------------------------------------------------------------------------------------
// (a) the floor: spawn-to-exit of the no-op child, as runner.ts spawns (own process group)

const { command: runtimeCommand, env: runtimeEnv } = childRuntime(useBinary);
const bareSpawn = () => spawnToExit([...runtimeCommand, noopPath], work, runtimeEnv);

/**
 * Not the floor but what the runner adds to it, to explain the gap: the job harness (JobSpec on
 * stdin, messages on fd 3) loading and calling the same no-op job script the daemon runs.
 */
const HARNESS = join(ROOT, "src/generated/harness.js");
const jobScriptPath = join(work, "job.ts");
writeFileSync(jobScriptPath, NOOP_JOB);

async function harnessSpawn(): Promise<number> {
  const started = performance.now();
  const proc = Bun.spawn([...runtimeCommand, HARNESS], {
    cwd: work,
    env: runtimeEnv,
    stdio: ["pipe", "ignore", "ignore", "pipe"],
    detached: true,
  });
  const spec = {
    jobId: "bench",
    cwd: work,
    attempt: 1,
    queue: "cpu",
    retry: 0,
    script: jobScriptPath,
    entrypoint: "main",
    params: {},
    inputFile: null,
    inputDir: work,
    outputDir: work,
  };
  const stdin = proc.stdin as import("bun").FileSink;
  stdin.write(`${JSON.stringify(spec)}\n`);
  stdin.flush();
  const channel = new Response(Bun.file(proc.stdio[3] as number).stream()).text();
  // Open until the end, as the runner keeps it: a harness whose stdin closes takes its daemon for
  // dead and kills its own process group.
  const code = await proc.exited;
  stdin.end();
  const lines = await channel;
  if (code !== 0 || !lines.includes('"t":"result"')) throw new Error(`the harness failed: ${code} ${lines}`);
  return performance.now() - started;
}

// ---------------------------------------------------------------------------------------------

// Other work on the machine skews everything here: say how busy it was.
const loadBefore = loadavg();
const floor = await spawnSeries(bareSpawn, JOBS);
const harness = existsSync(HARNESS) ? await spawnSeries(harnessSpawn, JOBS) : null;
const dataDir = join(work, "data");
const daemon = await startDaemon(dataDir, useBinary);
let results: Record<string, unknown>;
try {
  await Bun.sleep(1000);
  const idle = rssKb(daemon.pid);
  const api = client(daemon.url, new File([NOOP_JOB], "noop.ts", { type: "text/typescript" }));
  const latency = await measureLatency(api);
  const throughput = await measureThroughput(api, JOBS);
  await Bun.sleep(1000);
  const after = rssKb(daemon.pid);
  results = { floor, harness, daemon: { readyMs: daemon.readyMs, idle, after }, latency, throughput };

  const rows: [string, string, string][] = [
    [
      "floor: bare spawn, sequential median / p95",
      `${ms(floor.sequentialMedianMs)} / ${ms(floor.sequentialP95Ms)}`,
      "",
    ],
    ["floor: bare spawns two at a time", `${floor.twoAtATimeJobsPerS.toFixed(1)} jobs/s`, ""],
    ...(harness
      ? ([
          [
            "harness + no-op job script, sequential median / p95",
            `${ms(harness.sequentialMedianMs)} / ${ms(harness.sequentialP95Ms)}`,
            "(not a target: the runner's share)",
          ],
          [
            "harness + no-op job script, two at a time",
            `${harness.twoAtATimeJobsPerS.toFixed(1)} jobs/s`,
            "",
          ],
        ] as [string, string, string][])
      : []),
    [
      `daemon: ${JOBS} no-op jobs, SLOTS=cpu:2`,
      `${throughput.jobsPerS.toFixed(1)} jobs/s`,
      `>= ${(0.9 * floor.twoAtATimeJobsPerS).toFixed(1)}`,
    ],
    [
      "  ratio to the floor (two at a time)",
      `${(throughput.jobsPerS / floor.twoAtATimeJobsPerS).toFixed(2)}x`,
      ">= 0.90x",
    ],
    ["  submissions accepted", `${throughput.submitPerS.toFixed(1)} /s`, ""],
    [
      "  run time per job under backlog, median / p95",
      `${ms(throughput.runMedianMs)} / ${ms(throughput.runP95Ms)}`,
      "p95 <= 2x median",
    ],
    [
      "  gap between completions, median / p95",
      `${ms(throughput.gapMedianMs)} / ${ms(throughput.gapP95Ms)}`,
      "p95 <= 2x median",
    ],
    [
      "daemon: submit->SUCCESS idle, client-observed median / p95",
      `${ms(latency.observedMedianMs)} / ${ms(latency.observedP95Ms)}`,
      `<= ${ms(floor.sequentialMedianMs)}`,
    ],
    [
      "  server-recorded (requested -> stopped) median / p95",
      `${ms(latency.recordedMedianMs)} / ${ms(latency.recordedP95Ms)}`,
      `<= ${ms(floor.sequentialMedianMs)}`,
    ],
    ["  of which POST /jobs answered (200), median", ms(latency.submitAnswerMedianMs), ""],
    [
      "  ratio (client median) to one bare spawn",
      `${(latency.observedMedianMs / floor.sequentialMedianMs).toFixed(1)}x`,
      "<= 1.0x",
    ],
    ["daemon: idle RSS after start", `${(idle.rss / 1024).toFixed(1)} MiB`, "<= 60 MiB"],
    [
      "daemon: idle RSS after the run (peak)",
      `${(after.rss / 1024).toFixed(1)} MiB (${(after.hwm / 1024).toFixed(1)} MiB)`,
      "",
    ],
    ["daemon: spawn to first /health 200", ms(daemon.readyMs), ""],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  const valueWidth = Math.max(...rows.map((r) => r[1].length));
  console.log(
    `pixyz-scheduler bench: daemon and child runtime = ${useBinary ? "dist/pixyz-scheduler (BUN_BE_BUN=1 for children)" : `${process.execPath} (source)`}; ${availableParallelism()} cores; Bun ${Bun.version}`,
  );
  console.log(`${"".padEnd(width)}  ${"measured".padEnd(valueWidth)}  target`);
  for (const [label, value, target] of rows)
    console.log(`${label.padEnd(width)}  ${value.padEnd(valueWidth)}  ${target}`);
  console.log(`load average before / after: ${loadBefore} / ${loadavg()}`);
  if (args.json) console.log(JSON.stringify(results));
} finally {
  await daemon.stop();
  rmSync(work, { recursive: true, force: true });
}
// Pooled keep-alive connections would hold the process open for a while after the daemon is gone.
process.exit(0);
