// Throughput, latency and idle memory of the daemon, measured side by side with the floor (a bare
// spawn of the same no-op TS child, with the runtime command the runner uses), in one run.
//
//   bun bench/throughput.ts [--jobs 200] [--source] [--json]
//
// --source runs the daemon from src/ even when dist/pixyz-scheduler exists; --json also prints the
// numbers as one JSON line. docs/performance.md lists the targets and records measured runs.
// Nothing here asserts: it reports.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    jobs: { type: "string", default: "200" },
    source: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const JOBS = Number(args.jobs);
const SEQUENTIAL_SAMPLES = 50;
const LATENCY_SAMPLES = 30;
const SUBMIT_CONCURRENCY = 4;

const ROOT = join(import.meta.dir, "..");
const BINARY = join(ROOT, "dist/pixyz-scheduler");
const useBinary = existsSync(BINARY) && !args.source;
const TOKEN = "bench-token";
const NOOP_CHILD = "export {};\n";
const NOOP_JOB = "export async function main() {\n  return null;\n}\n";

const work = mkdtempSync(join(tmpdir(), "pxs-bench-"));
const noopPath = join(work, "noop.ts");
writeFileSync(noopPath, NOOP_CHILD);

// ---------------------------------------------------------------------------------------------
// helpers

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}
const median = (values: number[]) => quantile(values, 0.5);
const p95 = (values: number[]) => quantile(values, 0.95);
const ms = (n: number) => `${n.toFixed(1)} ms`;

/** Only what a job child gets from the daemon too (runner.ts PASS_ENV); never BUN_BE_BUN here. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ["PATH", "HOME", "LANG", "TZ", "TMPDIR", "USER"]) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

function rssKb(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

// ---------------------------------------------------------------------------------------------
// (a) the floor: spawn-to-exit of the no-op child, as runner.ts spawns (own process group)

const runtimeCommand = useBinary ? [BINARY, "--no-install"] : [process.execPath, "--no-install"];
const runtimeEnv = useBinary ? { ...baseEnv(), BUN_BE_BUN: "1" } : baseEnv();

async function bareSpawn(): Promise<number> {
  const started = performance.now();
  const proc = Bun.spawn([...runtimeCommand, noopPath], {
    cwd: work,
    env: runtimeEnv,
    stdio: ["ignore", "ignore", "ignore"],
    detached: true,
  });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`the no-op child exited with ${code}`);
  return performance.now() - started;
}

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

async function spawnSeries(spawn: () => Promise<number>) {
  for (let i = 0; i < 5; i++) await spawn(); // warm the page cache
  const sequential: number[] = [];
  for (let i = 0; i < SEQUENTIAL_SAMPLES; i++) sequential.push(await spawn());
  let left = JOBS;
  const started = performance.now();
  const worker = async () => {
    while (left > 0) {
      left--;
      await spawn();
    }
  };
  await Promise.all([worker(), worker()]);
  const seconds = (performance.now() - started) / 1000;
  return {
    sequentialMedianMs: median(sequential),
    sequentialP95Ms: p95(sequential),
    twoAtATimeJobsPerS: JOBS / seconds,
  };
}

// ---------------------------------------------------------------------------------------------
// (b) the daemon, as a separate process, driven over HTTP from this process

interface DaemonHandle {
  pid: number;
  url: string;
  readyMs: number;
  stop(): Promise<void>;
}

async function startDaemon(dataDir: string): Promise<DaemonHandle> {
  if (!useBinary && !existsSync(join(ROOT, "src/generated/embedded.ts"))) {
    const gen = Bun.spawnSync([process.execPath, join(ROOT, "scripts/gen-embedded.ts")], { cwd: ROOT });
    if (gen.exitCode !== 0) throw new Error("bun run gen failed");
  }
  const command = useBinary
    ? [BINARY, "serve"]
    : [process.execPath, "--no-install", join(ROOT, "src/cli/main.ts"), "serve"];
  mkdirSync(dataDir, { recursive: true });
  const started = performance.now();
  const proc = Bun.spawn(command, {
    cwd: useBinary ? dataDir : ROOT,
    env: {
      ...baseEnv(),
      API_HOST: "127.0.0.1",
      API_PORT: "0",
      DATA_DIR: dataDir,
      GOD_PASSWORD_SHA256: createHash("sha256").update(TOKEN).digest("hex"),
      SLOTS: "cpu:2",
      LOG_FORMAT: "json",
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  // Drain the log (an undrained pipe would block the daemon) and find the address it listens on.
  const { promise: listening, resolve, reject } = Promise.withResolvers<string>();
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let newline = buffer.indexOf("\n");
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf("\n");
        try {
          const entry = JSON.parse(line) as { msg?: string; url?: string; level?: string };
          if (entry.msg === "pixyz-scheduler listening" && entry.url) resolve(entry.url);
          if (entry.level === "error") console.error(`daemon: ${line}`);
        } catch {
          console.error(`daemon: ${line}`);
        }
      }
    }
    reject(new Error(`the daemon exited (${await proc.exited}) before it listened`));
  })();
  const url = await Promise.race([
    listening,
    Bun.sleep(30_000).then(() => Promise.reject(new Error("the daemon did not listen within 30 s"))),
  ]);
  const health = await fetch(`${url}/health`);
  if (!health.ok) throw new Error(`GET /health answered ${health.status}`);
  const readyMs = performance.now() - started;
  return {
    pid: proc.pid,
    url,
    readyMs,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

interface Details {
  status: string;
  time_info: { request: string; started: string | null; stopped: string | null };
}

function client(url: string) {
  const headers = { "x-api-key": TOKEN };
  return {
    async submit(): Promise<string> {
      const form = new FormData();
      form.append("script", new File([NOOP_JOB], "noop.ts", { type: "text/typescript" }));
      const res = await fetch(`${url}/jobs`, { method: "POST", body: form, headers });
      if (res.status !== 200) throw new Error(`POST /jobs answered ${res.status}: ${await res.text()}`);
      return ((await res.json()) as { uuid: string }).uuid;
    },
    async status(uuid: string): Promise<string> {
      const res = await fetch(`${url}/jobs/${uuid}`, { headers });
      return ((await res.json()) as { status: string }).status;
    },
    async details(uuid: string): Promise<Details> {
      const res = await fetch(`${url}/jobs/${uuid}/details`, { headers });
      return (await res.json()) as Details;
    },
    async count(status: string): Promise<number> {
      const res = await fetch(`${url}/jobs?status=${status}&limit=10000`, { headers });
      return ((await res.json()) as { jobs: unknown[] }).jobs.length;
    },
  };
}

const time = (iso: string | null) => (iso === null ? Number.NaN : Date.parse(iso));

async function waitSuccess(api: ReturnType<typeof client>, uuid: string, pollMs: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await api.status(uuid);
    if (status === "SUCCESS") return;
    if (status === "FAILURE" || status === "REVOKED") throw new Error(`job ${uuid} ended ${status}`);
    if (Date.now() > deadline) throw new Error(`job ${uuid} still ${status} after 30 s`);
    await Bun.sleep(pollMs);
  }
}

/** Single jobs on an idle daemon: client-observed (2 ms polling) and server-recorded times. */
async function measureLatency(api: ReturnType<typeof client>) {
  for (let i = 0; i < 3; i++) await waitSuccess(api, await api.submit(), 2); // warm-up
  const observed: number[] = [];
  const recorded: number[] = [];
  const answered: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    await Bun.sleep(50); // idle between jobs
    const started = performance.now();
    const uuid = await api.submit();
    answered.push(performance.now() - started);
    await waitSuccess(api, uuid, 2);
    observed.push(performance.now() - started);
    const { time_info } = await api.details(uuid);
    recorded.push(time(time_info.stopped) - time(time_info.request));
  }
  return {
    observedMedianMs: median(observed),
    observedP95Ms: p95(observed),
    recordedMedianMs: median(recorded),
    recordedP95Ms: p95(recorded),
    submitAnswerMedianMs: median(answered),
  };
}

/** JOBS no-op jobs submitted as fast as the client can, until all are SUCCESS. */
async function measureThroughput(api: ReturnType<typeof client>) {
  const before = await api.count("SUCCESS");
  const startedAt = Date.now();
  const uuids: string[] = [];
  let left = JOBS;
  const submitter = async () => {
    while (left > 0) {
      left--;
      uuids.push(await api.submit());
    }
  };
  await Promise.all(Array.from({ length: SUBMIT_CONCURRENCY }, submitter));
  const submittedMs = Date.now() - startedAt;
  const deadline = Date.now() + 300_000;
  for (;;) {
    if ((await api.count("SUCCESS")) - before >= JOBS) break;
    if ((await api.count("FAILURE")) > 0) throw new Error("a no-op job failed: see its details");
    if (Date.now() > deadline) throw new Error("the jobs did not all succeed within 300 s");
    await Bun.sleep(20);
  }
  // Server-recorded times (same clock as this process): no polling granularity in the numbers.
  const details = await Promise.all(uuids.map((uuid) => api.details(uuid)));
  const stopped = details.map((d) => time(d.time_info.stopped)).sort((a, b) => a - b);
  const runMs = details.map((d) => time(d.time_info.stopped) - time(d.time_info.started));
  const gaps = stopped.slice(1).map((t, i) => t - stopped[i]!);
  const seconds = (stopped[stopped.length - 1]! - startedAt) / 1000;
  return {
    jobsPerS: JOBS / seconds,
    submitPerS: JOBS / (submittedMs / 1000),
    runMedianMs: median(runMs),
    runP95Ms: p95(runMs),
    gapMedianMs: median(gaps),
    gapP95Ms: p95(gaps),
  };
}

// ---------------------------------------------------------------------------------------------

// Other work on the machine skews everything here: say how busy it was.
const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const loadBefore = loadavg();
const floor = await spawnSeries(bareSpawn);
const harness = existsSync(HARNESS) ? await spawnSeries(harnessSpawn) : null;
const dataDir = join(work, "data");
const daemon = await startDaemon(dataDir);
let results: Record<string, unknown>;
try {
  await Bun.sleep(1000);
  const idle = rssKb(daemon.pid);
  const api = client(daemon.url);
  const latency = await measureLatency(api);
  const throughput = await measureThroughput(api);
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
