// Python job throughput and latency, measured side by side with the floor (bare `<python> -c pass`
// spawns), in one run: the daemon with the fork server (the default) and with WARM_CHILDREN=false
// (every Python job starts its interpreter cold), with the same interpreter as the floor.
//
//   bun bench/python-jobs.ts [--jobs 200] [--source] [--json] [--python python3]
//
// --python (else PYTHON_BIN, else python3) is resolved once to the interpreter itself (as the daemon
// does) and given to the daemon as PYTHON_BIN. --source runs the daemon from src/ even when
// dist/pixyz-scheduler exists; --json also prints the numbers as one JSON line. Nothing here
// asserts: it reports.
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { resolvePython } from "../src/runner/python.ts";
import {
  baseEnv,
  client,
  loadavg,
  measureLatency,
  measureThroughput,
  ms,
  spawnSeries,
  spawnToExit,
  startDaemon,
  usesBinary,
  waitSuccess,
} from "./lib.ts";

const { values: args } = parseArgs({
  options: {
    jobs: { type: "string", default: "200" },
    source: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    python: { type: "string", default: process.env.PYTHON_BIN ?? "python3" },
  },
});
const JOBS = Number(args.jobs);
const useBinary = usesBinary(args.source);

/** A no-op job in the original's style: the compatibility package imported, nothing done. */
const NOOP_PY_JOB = `from pixyz_worker.script import *


def main(pc: ProgramContext, params: dict):
    return None
`;

const interpreter = await resolvePython(args.python);
if (!interpreter.path) throw new Error(interpreter.error ?? "no Python");
const python = interpreter.path;
const work = mkdtempSync(join(tmpdir(), "pxs-bench-py-"));

/** A job that says whether it was forked: its parent is the fork server, not the daemon. */
const PARENT_PY_JOB = `import os


def main(pc, params):
    return os.getppid()
`;

/**
 * One daemon (fork server on, or cold Python): throughput of JOBS no-op jobs, then idle latency,
 * then whether its Python jobs really were forked (a binary built before the fork server was not).
 */
async function measureDaemon(name: string, env: Record<string, string>) {
  const daemon = await startDaemon(join(work, name), useBinary, { PYTHON_BIN: python, ...env });
  try {
    const api = client(daemon.url, new File([NOOP_PY_JOB], "noop.py", { type: "text/x-python" }));
    const throughput = await measureThroughput(api, JOBS);
    const latency = await measureLatency(api);
    const probe = client(daemon.url, new File([PARENT_PY_JOB], "parent.py", { type: "text/x-python" }));
    const uuid = await probe.submit();
    await waitSuccess(probe, uuid, 5);
    const { result } = (await probe.details(uuid)) as unknown as { result: number };
    return { throughput, latency, forked: result !== daemon.pid };
  } finally {
    await daemon.stop();
  }
}

const loadBefore = loadavg();
// The floor: the interpreter started and stopped with nothing to do, as a job is spawned (own group).
const floor = await spawnSeries(() => spawnToExit([python, "-c", "pass"], work, baseEnv()), JOBS);
let results: Record<string, unknown>;
try {
  const forked = await measureDaemon("forked", {});
  const cold = await measureDaemon("cold", { WARM_CHILDREN: "false" });
  results = { python, version: interpreter.version, floor, forked, cold };
  const rows: [string, string, string][] = [
    [
      `floor: bare \`python -c pass\`, sequential median / p95`,
      `${ms(floor.sequentialMedianMs)} / ${ms(floor.sequentialP95Ms)}`,
      "",
    ],
    ["floor: bare spawns two at a time", `${floor.twoAtATimeJobsPerS.toFixed(1)} jobs/s`, ""],
  ];
  for (const [label, run, target] of [
    ["fork server", forked, ">= 1.50x"],
    ["cold (WARM_CHILDREN=false)", cold, ""],
  ] as const) {
    rows.push(
      [`${label}: Python jobs forked?`, run.forked ? "yes" : "no (started cold)", ""],
      [
        `${label}: ${JOBS} no-op .py jobs, SLOTS=cpu:2`,
        `${run.throughput.jobsPerS.toFixed(1)} jobs/s`,
        target ? `>= ${(1.5 * floor.twoAtATimeJobsPerS).toFixed(1)}` : "",
      ],
      [
        "  ratio to the floor (two at a time)",
        `${(run.throughput.jobsPerS / floor.twoAtATimeJobsPerS).toFixed(2)}x`,
        target,
      ],
      [
        "  run time per job under backlog, median / p95",
        `${ms(run.throughput.runMedianMs)} / ${ms(run.throughput.runP95Ms)}`,
        "",
      ],
      [
        "  submit->SUCCESS idle, client-observed median / p95",
        `${ms(run.latency.observedMedianMs)} / ${ms(run.latency.observedP95Ms)}`,
        "",
      ],
      [
        "  server-recorded (requested -> stopped) median / p95",
        `${ms(run.latency.recordedMedianMs)} / ${ms(run.latency.recordedP95Ms)}`,
        "",
      ],
    );
  }
  rows.push([
    "fork server / cold, throughput",
    `${(forked.throughput.jobsPerS / cold.throughput.jobsPerS).toFixed(2)}x`,
    "",
  ]);
  const width = Math.max(...rows.map((r) => r[0].length));
  const valueWidth = Math.max(...rows.map((r) => r[1].length));
  console.log(
    `pixyz-scheduler Python bench: daemon = ${useBinary ? "dist/pixyz-scheduler" : `${process.execPath} (source)`}; PYTHON_BIN = ${python} (${interpreter.version}); ${availableParallelism()} cores; Bun ${Bun.version}`,
  );
  console.log(`${"".padEnd(width)}  ${"measured".padEnd(valueWidth)}  target`);
  for (const [label, value, target] of rows)
    console.log(`${label.padEnd(width)}  ${value.padEnd(valueWidth)}  ${target}`);
  console.log(`load average before / after: ${loadBefore} / ${loadavg()}`);
  if (args.json) console.log(JSON.stringify(results));
} finally {
  rmSync(work, { recursive: true, force: true });
}
// Pooled keep-alive connections would hold the process open for a while after the daemon is gone.
process.exit(0);
