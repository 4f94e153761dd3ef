// The daemon against its floors and against the peers the original product's users would pick
// instead (Celery workers on Redis), side by side in one run on this machine.
//
//   bun bench/peers.ts [--jobs 200] [--latency 30] [--source] [--idle-wait 70 | --skip-idle-wait]
//                      [--jobs-per-child 100] [--json]
//
// - floors: bare spawns two at a time (jobs/s) and one at a time (ms) of the Bun runtime running a
//   no-op TS file (as bench/throughput.ts measures its floor) and of `/usr/bin/python3 -c pass`;
// - peers: Debian's redis-server (a loopback port picked here, a temp folder, no persistence) and
//   Debian's python3-celery workers with the Redis broker and result backend (bench/peers/
//   celery_app.py), driven by a Python client (bench/peers/client.py: `.delay()`, then every
//   result): P1 prefork pool, concurrency 2, each job a Python child (`python -c pass`, a job in
//   its own process, as ours); P2 the same pool with an in-process no-op task; P3 the original
//   product's worker shape: two solo-pool workers (concurrency 1 each, prefetch multiplier 1,
//   task_acks_late) with the Python-child task. Missing packages are installed with apt-get when
//   running as root; otherwise the peers are skipped and the reason printed;
// - ours: the daemon (dist/pixyz-scheduler when built, else src/; --source forces src/) with
//   SLOTS=cpu:2 and PYTHON_BIN=/usr/bin/python3 (Debian's Python: the one python3-celery is for;
//   the floor and the peers use it too), no-op TS jobs and no-op Python jobs (pixyz_worker style),
//   4 submissions in flight, and single jobs on the idle daemon (POST to the first GET that reads
//   SUCCESS, 2 ms polling; then as many watched through GET /events?job=, as the CLI's watch
//   does: POST to the stream's end); then a second daemon with the opt-in
//   JOBS_PER_CHILD=<--jobs-per-child> (default 100; 0 skips it), TS jobs only: one warm harness
//   runs many jobs, as Celery's prefork pool does (the default, one process per job, is the first
//   daemon).
// - idle footprint: the sum of RSS (and of PSS) of the daemon and every process it started (its
//   node marker PIXYZ_NODE, or below it by parent pid) against redis-server + each Celery main
//   process + its pool; 1 s after start before any job, and --idle-wait seconds after the load
//   (default 70: the daemon retires its warm children after WARM_IDLE = 60 s without a job,
//   checked every 5 s; --skip-idle-wait: 1 s after the load only). PSS beside RSS: a forked
//   pool's shared pages count once per process in RSS.
//
// The floors are measured twice, before the peers and right after our daemon's runs, and the
// ratios divide by their mean: on a shared VM the machine's speed drifts over minutes.
// Each system runs alone: the peers' Redis and workers are stopped before the next starts.
// Everything started here is killed on exit, on Ctrl-C and on error, and the temp folder removed.
// Prints one table (--json: also one JSON line with every number). Asserts nothing.
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import {
  baseEnv,
  childRuntime,
  client,
  cpuMark,
  type DaemonHandle,
  LATENCY_SAMPLES as DEFAULT_LATENCY_SAMPLES,
  footprintKb,
  freePort,
  loadavg,
  measureLatency,
  measureThroughput,
  median,
  NOOP_CHILD,
  NOOP_JOB,
  otherCores,
  p95,
  processesWithEnv,
  spawnSeries,
  spawnToExit,
  startDaemon,
  usesBinary,
  withDescendants,
} from "./lib.ts";

const { values: args } = parseArgs({
  options: {
    jobs: { type: "string", default: "200" },
    latency: { type: "string", default: String(DEFAULT_LATENCY_SAMPLES) },
    source: { type: "boolean", default: false },
    "idle-wait": { type: "string", default: "70" },
    "skip-idle-wait": { type: "boolean", default: false },
    "jobs-per-child": { type: "string", default: "100" },
    json: { type: "boolean", default: false },
  },
});
const JOBS_PER_CHILD = Number(args["jobs-per-child"]);
const JOBS = Number(args.jobs);
const LATENCY_SAMPLES = Number(args.latency);
const IDLE_WAIT_S = args["skip-idle-wait"] ? 0 : Number(args["idle-wait"]);
const PYTHON = "/usr/bin/python3";
const PEERS_DIR = join(import.meta.dir, "peers");
const useBinary = usesBinary(args.source);
/** Without it: no Python floor, no peers, no Python jobs of ours (their rows say so). */
const hasPython = existsSync(PYTHON);
const NOOP_PY_JOB = `from pixyz_worker.script import *


def main(pc: ProgramContext, params: dict):
    return None
`;

const work = mkdtempSync(join(tmpdir(), "pxs-peers-bench-"));

// ---------------------------------------------------------------------------------------------
// everything started here, killed on the way out whatever the way

const started = new Set<Subprocess>();
let daemonMarker: string | null = null;
let daemonHandle: DaemonHandle | null = null;

function killGroup(proc: Subprocess, signal: NodeJS.Signals) {
  try {
    process.kill(-proc.pid, signal); // detached: its own process group, pool and children included
  } catch {
    // already gone
  }
}

/** Synchronous, so that it also runs in an "exit" handler. */
function killEverything() {
  for (const proc of started) killGroup(proc, "SIGKILL");
  started.clear();
  if (daemonHandle) {
    try {
      process.kill(daemonHandle.pid, "SIGKILL");
    } catch {}
    daemonHandle = null;
  }
  if (daemonMarker) {
    for (const pid of processesWithEnv(daemonMarker)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  }
  rmSync(work, { recursive: true, force: true });
}
process.on("exit", killEverything);
for (const [signal, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 143],
  ["SIGHUP", 129],
] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping what the bench started`);
    killEverything();
    process.exit(code);
  });
}

/** Starts `command` in its own process group, remembered for the way out. */
function spawnGroup(
  command: string[],
  cwd: string,
  env: Record<string, string>,
  logFile: string,
): Subprocess {
  const fd = openSync(logFile, "a");
  try {
    const proc = Bun.spawn(command, { cwd, env, stdio: ["ignore", fd, fd], detached: true });
    started.add(proc);
    return proc;
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM to the group, up to `graceMs` for the leader to exit, then SIGKILL to what is left. */
async function stopGroup(proc: Subprocess, graceMs = 10_000) {
  killGroup(proc, "SIGTERM");
  await Promise.race([proc.exited, Bun.sleep(graceMs)]);
  killGroup(proc, "SIGKILL");
  await proc.exited;
  started.delete(proc);
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await Bun.sleep(50);
  }
}

const tail = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").slice(-2000) : "(no log)");

// ---------------------------------------------------------------------------------------------
// the peers' packages: present, installed with apt-get (root only), or skipped with a reason

function peersMissing(): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  if (!Bun.which("redis-server")) return "redis-server not found";
  const check = Bun.spawnSync([PYTHON, "-c", "import celery, redis"], { stderr: "pipe" });
  if (check.exitCode !== 0) return `${PYTHON} cannot import celery and redis`;
  return null;
}

function preparePeers(): string | null {
  const missing = peersMissing();
  if (!missing) return null;
  if (process.getuid?.() !== 0 || !Bun.which("apt-get"))
    return `${missing}; not root with apt-get: install python3-celery python3-redis redis-server`;
  console.error(`${missing}: apt-get install python3-celery python3-redis redis-server`);
  const install = () =>
    Bun.spawnSync(["apt-get", "install", "-y", "-q", "python3-celery", "python3-redis", "redis-server"], {
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      stdio: ["ignore", "inherit", "inherit"],
    }).exitCode === 0;
  if (!install()) {
    Bun.spawnSync(["apt-get", "update", "-q"], { stdio: ["ignore", "inherit", "inherit"] });
    if (!install()) return `${missing}; apt-get install failed`;
  }
  const still = peersMissing();
  return still ? `${still} after apt-get install` : null;
}

// ---------------------------------------------------------------------------------------------
// footprint

interface Footprint {
  processes: number;
  rssMiB: number;
  pssMiB: number;
}
function footprint(pids: number[]): Footprint {
  const kb = footprintKb([...new Set(pids)]);
  return { processes: kb.processes, rssMiB: kb.rss / 1024, pssMiB: kb.pss / 1024 };
}

/**
 * 1 s after the load, then every 5 s until IDLE_WAIT_S after it (none with --skip-idle-wait): the
 * last reading is the table's, the series goes to the JSON.
 */
async function footprintsAfterLoad(pids: () => number[]) {
  const loadEnded = performance.now();
  await Bun.sleep(1000);
  const after1s = footprint(pids());
  const series: (Footprint & { s: number })[] = [];
  const marks: number[] = [];
  for (let s = 5; s < IDLE_WAIT_S; s += 5) marks.push(s);
  if (IDLE_WAIT_S > 0) marks.push(IDLE_WAIT_S);
  for (const s of marks) {
    await Bun.sleep(Math.max(0, loadEnded + s * 1000 - performance.now()));
    series.push({ s, ...footprint(pids()) });
  }
  return { after1s, afterWait: series.at(-1) ?? null, series };
}

// ---------------------------------------------------------------------------------------------
// a peer: Redis + Celery workers + the Python client

interface PeerSpec {
  key: string;
  label: string;
  task: "child" | "noop";
  workers: { pool: "prefork" | "solo"; concurrency: number }[];
  acksLate: boolean;
  prefetch: number;
}

const PEERS: PeerSpec[] = [
  {
    key: "P1",
    label: "Celery prefork -c 2, a Python child per job",
    task: "child",
    workers: [{ pool: "prefork", concurrency: 2 }],
    acksLate: false,
    prefetch: 4,
  },
  {
    key: "P2",
    label: "Celery prefork -c 2, in-process no-op task",
    task: "noop",
    workers: [{ pool: "prefork", concurrency: 2 }],
    acksLate: false,
    prefetch: 4,
  },
  {
    key: "P3",
    label:
      "the original's shape: 2 Celery solo workers (-c 1, prefetch 1, acks late), a Python child per job",
    task: "child",
    workers: [
      { pool: "solo", concurrency: 1 },
      { pool: "solo", concurrency: 1 },
    ],
    acksLate: true,
    prefetch: 1,
  },
];

async function redisPing(port: number): Promise<boolean> {
  const { promise, resolve } = Promise.withResolvers<boolean>();
  try {
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data(s, data) {
          resolve(data.toString().startsWith("+PONG"));
          s.end();
        },
        close: () => resolve(false),
        error: () => resolve(false),
      },
    });
    socket.write("PING\r\n");
  } catch {
    return false;
  }
  return Promise.race([promise, Bun.sleep(1000).then(() => false)]);
}

async function runPeer(spec: PeerSpec) {
  const dir = join(work, spec.key);
  mkdirSync(dir);
  const port = freePort();
  const redisLog = join(dir, "redis.log");
  // The server logs to its --logfile; stdout/stderr go to the same file for what comes before it.
  const redis = spawnGroup(
    [
      Bun.which("redis-server")!,
      "--bind",
      "127.0.0.1",
      "--port",
      String(port),
      "--protected-mode",
      "yes",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      "--logfile",
      redisLog,
      "--daemonize",
      "no",
    ],
    dir,
    baseEnv(),
    join(dir, "redis.out"),
  );
  const workers: Subprocess[] = [];
  try {
    await until(`redis-server on port ${port} (${tail(redisLog)})`, () => redisPing(port), 10_000);
    const env = {
      ...baseEnv(),
      BENCH_REDIS_URL: `redis://127.0.0.1:${port}/0`,
      BENCH_ACKS_LATE: spec.acksLate ? "1" : "0",
      BENCH_PREFETCH: String(spec.prefetch),
      PYTHONPATH: PEERS_DIR,
      PYTHONDONTWRITEBYTECODE: "1",
    };
    const logs: string[] = [];
    spec.workers.forEach((w, i) => {
      const log = join(dir, `worker-${i}.log`);
      logs.push(log);
      const worker = spawnGroup(
        // -l INFO as the daemon logs at info; "ready." is logged at INFO too.
        [
          PYTHON,
          "-m",
          "celery",
          "-A",
          "celery_app",
          "worker",
          "-P",
          w.pool,
          "-c",
          String(w.concurrency),
          "-l",
          "INFO",
          "-n",
          `${spec.key.toLowerCase()}-${i}@bench`,
          "--logfile",
          log,
        ],
        dir,
        env,
        join(dir, `worker-${i}.out`),
      );
      workers.push(worker);
    });
    const readyStarted = performance.now();
    for (const [i, log] of logs.entries()) {
      await until(
        `celery worker ${i} ready (${tail(log)})`,
        () => {
          if (workers[i]!.exitCode !== null) throw new Error(`celery worker ${i} exited: ${tail(log)}`);
          return existsSync(log) && readFileSync(log, "utf8").includes(" ready.");
        },
        60_000,
      );
    }
    const readyMs = performance.now() - readyStarted;
    const pids = () => withDescendants([redis.pid, ...workers.map((w) => w.pid)]);
    await Bun.sleep(1000);
    const idle = footprint(pids());

    const clientLog = join(dir, "client.err");
    const clientProc = Bun.spawn(
      [
        PYTHON,
        join(PEERS_DIR, "client.py"),
        "--task",
        spec.task,
        "--jobs",
        String(JOBS),
        "--latency",
        String(LATENCY_SAMPLES),
      ],
      { cwd: dir, env, stdio: ["ignore", "pipe", Bun.file(clientLog)], detached: true },
    );
    started.add(clientProc);
    const cpu = cpuMark();
    const out = await new Response(clientProc.stdout as ReadableStream<Uint8Array>).text();
    const code = await clientProc.exited;
    started.delete(clientProc);
    const otherCoresDuring = otherCores(cpu);
    if (code !== 0) throw new Error(`the Celery client exited with ${code}: ${tail(clientLog)}`);
    const measured = JSON.parse(out.trim().split("\n").pop()!) as {
      latencyMs: number[];
      jobsPerS: number;
      submitPerS: number;
    };
    const after = await footprintsAfterLoad(pids);
    return {
      label: spec.label,
      readyMs,
      jobsPerS: measured.jobsPerS,
      submitPerS: measured.submitPerS,
      latencyMedianMs: median(measured.latencyMs),
      latencyP95Ms: p95(measured.latencyMs),
      otherCores: otherCoresDuring,
      idle,
      ...after,
    };
  } finally {
    for (const worker of workers) await stopGroup(worker);
    await stopGroup(redis);
  }
}

// ---------------------------------------------------------------------------------------------
// ours

async function startOurs(name: string, env: Record<string, string>) {
  const dataDir = join(work, name);
  const daemon = await startDaemon(dataDir, useBinary, env);
  daemonHandle = daemon;
  const node = readFileSync(join(dataDir, "node-id"), "utf8").trim();
  daemonMarker = `PIXYZ_NODE=${node}`;
  return { daemon, marker: daemonMarker };
}

async function stopOurs(daemon: DaemonHandle) {
  await daemon.stop();
  daemonHandle = null;
  // Its children die with it; anything left with its marker would be a finding, and is killed.
  const marker = daemonMarker ?? "PIXYZ_NODE=?";
  await until("the daemon's processes gone", () => processesWithEnv(marker).length === 0, 2000).catch(
    () => {},
  );
  const left = processesWithEnv(marker);
  if (left.length > 0) {
    console.error(`${left.length} process(es) of the daemon outlived it: killed`);
    for (const pid of left) process.kill(pid, "SIGKILL");
  }
}

async function runOurs() {
  const { daemon, marker } = await startOurs("daemon", { PYTHON_BIN: PYTHON });
  try {
    const pids = () => withDescendants([daemon.pid, ...processesWithEnv(marker)]);
    await Bun.sleep(1000);
    const idle = footprint(pids());
    const ts = client(daemon.url, new File([NOOP_JOB], "noop.ts", { type: "text/typescript" }));
    const py = client(daemon.url, new File([NOOP_PY_JOB], "noop.py", { type: "text/x-python" }));
    const cpu = cpuMark();
    const tsLatency = await measureLatency(ts, LATENCY_SAMPLES);
    const pyLatency = hasPython ? await measureLatency(py, LATENCY_SAMPLES) : null;
    const tsThroughput = await measureThroughput(ts, JOBS);
    const pyThroughput = hasPython ? await measureThroughput(py, JOBS) : null;
    const otherCoresDuring = otherCores(cpu);
    const after = await footprintsAfterLoad(pids);
    return {
      readyMs: daemon.readyMs,
      otherCores: otherCoresDuring,
      idle,
      ...after,
      tsLatency,
      pyLatency,
      tsThroughput,
      pyThroughput,
    };
  } finally {
    await stopOurs(daemon);
  }
}

/** The opt-in: one warm harness per slot runs up to JOBS_PER_CHILD TS jobs. */
async function runOursReusing() {
  const { daemon } = await startOurs("daemon-reusing", { JOBS_PER_CHILD: String(JOBS_PER_CHILD) });
  try {
    const ts = client(daemon.url, new File([NOOP_JOB], "noop.ts", { type: "text/typescript" }));
    const cpu = cpuMark();
    const tsLatency = await measureLatency(ts, LATENCY_SAMPLES);
    const tsThroughput = await measureThroughput(ts, JOBS);
    return { tsLatency, tsThroughput, otherCores: otherCores(cpu) };
  } finally {
    await stopOurs(daemon);
  }
}

// ---------------------------------------------------------------------------------------------
// the run

type Floor = Awaited<ReturnType<typeof spawnSeries>>;

/** Both floors, and the other work on the machine while they were measured. */
async function measureFloors() {
  const cpu = cpuMark();
  const noopPath = join(work, "noop.ts");
  writeFileSync(noopPath, NOOP_CHILD);
  const runtime = childRuntime(useBinary);
  const bun = await spawnSeries(() => spawnToExit([...runtime.command, noopPath], work, runtime.env), JOBS);
  const python = hasPython
    ? await spawnSeries(() => spawnToExit([PYTHON, "-c", "pass"], work, baseEnv()), JOBS)
    : null;
  return { bun, python, otherCores: otherCores(cpu) };
}

/** The mean of two floor measurements, figure by figure. */
function meanFloor(a: Floor, b: Floor): Floor {
  return {
    sequentialMedianMs: (a.sequentialMedianMs + b.sequentialMedianMs) / 2,
    sequentialP95Ms: (a.sequentialP95Ms + b.sequentialP95Ms) / 2,
    twoAtATimeJobsPerS: (a.twoAtATimeJobsPerS + b.twoAtATimeJobsPerS) / 2,
  };
}

async function main() {
  const loadBefore = loadavg();
  if (!hasPython) console.error(`${PYTHON} not found: the Python floor, peers and jobs are skipped`);
  const floorsBefore = await measureFloors();

  const skipped = preparePeers();
  const peers: Record<string, Awaited<ReturnType<typeof runPeer>>> = {};
  if (skipped) console.error(`peers skipped: ${skipped}`);
  else for (const spec of PEERS) peers[spec.key] = await runPeer(spec);

  const ours = await runOurs();
  // The floors again, right after: the machine's speed drifts over minutes (a shared VM), so the
  // ratios divide by the mean of the floors measured before and after the daemon's own runs.
  const floorsAfter = await measureFloors();
  const reusing = JOBS_PER_CHILD > 0 ? await runOursReusing() : null;
  const loadAfter = loadavg();
  const bunFloor = meanFloor(floorsBefore.bun, floorsAfter.bun);
  const pythonFloor =
    floorsBefore.python && floorsAfter.python ? meanFloor(floorsBefore.python, floorsAfter.python) : null;
  const floorsOtherCores = (floorsBefore.otherCores + floorsAfter.otherCores) / 2;

  // ---- the table
  const f1 = (n: number) => n.toFixed(1);
  const ratio = (n: number) => `${n.toFixed(2)}x`;
  const cores = (n: number) => Math.max(0, n).toFixed(2); // a tick's rounding can go below 0
  const peerCell = (value: (p: (typeof peers)[string]) => string) =>
    skipped ? "skipped" : PEERS.map((s) => `${s.key} ${value(peers[s.key]!)}`).join(" | ");
  const mib = (f: Footprint | null) => (f ? `${f1(f.rssMiB)} (${f1(f.pssMiB)})` : "skipped");
  const pyFloorJobs = pythonFloor?.twoAtATimeJobsPerS ?? Number.NaN;
  const pyFloorMs = pythonFloor?.sequentialMedianMs ?? Number.NaN;
  const rows: string[][] = [
    ["measure", "floor", "peers", "ours", "ratio", "target"],
    [
      "TS no-op jobs/s",
      `${f1(bunFloor.twoAtATimeJobsPerS)} (Bun, 2 at a time)`,
      "n/a (Python only)",
      f1(ours.tsThroughput.jobsPerS),
      ratio(ours.tsThroughput.jobsPerS / bunFloor.twoAtATimeJobsPerS),
      `>= 0.5x floor (${f1(0.5 * bunFloor.twoAtATimeJobsPerS)})`,
    ],
    [
      `TS no-op jobs/s, JOBS_PER_CHILD=${JOBS_PER_CHILD} (opt-in)`,
      `${f1(bunFloor.twoAtATimeJobsPerS)} (Bun, 2 at a time)`,
      "n/a (Python only)",
      reusing ? f1(reusing.tsThroughput.jobsPerS) : "skipped",
      ratio((reusing?.tsThroughput.jobsPerS ?? Number.NaN) / bunFloor.twoAtATimeJobsPerS),
      `>= 0.5x floor (${f1(0.5 * bunFloor.twoAtATimeJobsPerS)})`,
    ],
    [
      "Python no-op jobs/s",
      `${f1(pyFloorJobs)} (python -c pass, 2 at a time)`,
      peerCell((p) => f1(p.jobsPerS)),
      ours.pyThroughput ? f1(ours.pyThroughput.jobsPerS) : "skipped",
      ratio((ours.pyThroughput?.jobsPerS ?? Number.NaN) / pyFloorJobs),
      `>= 1.5x floor (${f1(1.5 * pyFloorJobs)})`,
    ],
    [
      "TS submit->SUCCESS, median / p95 ms",
      `${f1(bunFloor.sequentialMedianMs)} (one bare Bun spawn)`,
      "n/a (Python only)",
      `${f1(ours.tsLatency.observedMedianMs)} / ${f1(ours.tsLatency.observedP95Ms)}`,
      ratio(ours.tsLatency.observedMedianMs / bunFloor.sequentialMedianMs),
      `<= 1.5x floor (${f1(1.5 * bunFloor.sequentialMedianMs)})`,
    ],
    [
      "TS submit->SUCCESS watched (GET /events?job=), median ms",
      `${f1(bunFloor.sequentialMedianMs)} (one bare Bun spawn)`,
      "n/a (Python only)",
      f1(ours.tsLatency.watchedMedianMs),
      ratio(ours.tsLatency.watchedMedianMs / bunFloor.sequentialMedianMs),
      `<= 1.5x floor (${f1(1.5 * bunFloor.sequentialMedianMs)})`,
    ],
    [
      `TS submit->SUCCESS, JOBS_PER_CHILD=${JOBS_PER_CHILD} (opt-in), median / p95 ms`,
      `${f1(bunFloor.sequentialMedianMs)} (one bare Bun spawn)`,
      "n/a (Python only)",
      reusing
        ? `${f1(reusing.tsLatency.observedMedianMs)} / ${f1(reusing.tsLatency.observedP95Ms)}`
        : "skipped",
      ratio((reusing?.tsLatency.observedMedianMs ?? Number.NaN) / bunFloor.sequentialMedianMs),
      `<= 1.5x floor (${f1(1.5 * bunFloor.sequentialMedianMs)})`,
    ],
    [
      "Python submit->SUCCESS, median / p95 ms",
      `${f1(pyFloorMs)} (one bare python spawn)`,
      peerCell((p) => `${f1(p.latencyMedianMs)} / ${f1(p.latencyP95Ms)}`),
      ours.pyLatency
        ? `${f1(ours.pyLatency.observedMedianMs)} / ${f1(ours.pyLatency.observedP95Ms)}`
        : "skipped",
      ratio((ours.pyLatency?.observedMedianMs ?? Number.NaN) / pyFloorMs),
      `<= 1.5x floor (${f1(1.5 * pyFloorMs)})`,
    ],
    [
      "Python submit->SUCCESS watched (GET /events?job=), median ms",
      `${f1(pyFloorMs)} (one bare python spawn)`,
      "",
      ours.pyLatency ? f1(ours.pyLatency.watchedMedianMs) : "skipped",
      ratio((ours.pyLatency?.watchedMedianMs ?? Number.NaN) / pyFloorMs),
      `<= 1.5x floor (${f1(1.5 * pyFloorMs)})`,
    ],
    [
      "idle footprint at start, MiB RSS (PSS)",
      "",
      peerCell((p) => mib(p.idle)),
      mib(ours.idle),
      "",
      "<= 60 MiB",
    ],
    [
      `idle footprint ${IDLE_WAIT_S || 1} s after the load, MiB RSS (PSS)`,
      "",
      peerCell((p) => mib(p.afterWait ?? p.after1s)),
      mib(ours.afterWait ?? ours.after1s),
      "",
      "<= 60 MiB",
    ],
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) =>
    r
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join("  ")
      .trimEnd();
  console.log(
    `pixyz-scheduler against its floors and peers: daemon = ${useBinary ? "dist/pixyz-scheduler" : `${process.execPath} (source)`}; Python = ${PYTHON}; ${availableParallelism()} cores; Bun ${Bun.version}; ${JOBS} jobs, ${LATENCY_SAMPLES} latency samples`,
  );
  console.log(line(rows[0]!));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows.slice(1)) console.log(line(r));
  console.log("");
  if (!skipped) for (const spec of PEERS) console.log(`${spec.key}: ${spec.label}`);
  const details = [
    `floors, one at a time median / p95: Bun ${f1(bunFloor.sequentialMedianMs)} / ${f1(bunFloor.sequentialP95Ms)} ms, python ${f1(pyFloorMs)} / ${f1(pythonFloor?.sequentialP95Ms ?? Number.NaN)} ms`,
    `floors before / after ours (the table shows their mean): Bun ${f1(floorsBefore.bun.twoAtATimeJobsPerS)} / ${f1(floorsAfter.bun.twoAtATimeJobsPerS)} jobs/s and ${f1(floorsBefore.bun.sequentialMedianMs)} / ${f1(floorsAfter.bun.sequentialMedianMs)} ms, python ${f1(floorsBefore.python?.twoAtATimeJobsPerS ?? Number.NaN)} / ${f1(floorsAfter.python?.twoAtATimeJobsPerS ?? Number.NaN)} jobs/s and ${f1(floorsBefore.python?.sequentialMedianMs ?? Number.NaN)} / ${f1(floorsAfter.python?.sequentialMedianMs ?? Number.NaN)} ms`,
    `ours: submissions accepted ${f1(ours.tsThroughput.submitPerS)} /s (TS), ${f1(ours.pyThroughput?.submitPerS ?? Number.NaN)} /s (Python); server-recorded requested->stopped median ${f1(ours.tsLatency.recordedMedianMs)} ms (TS), ${f1(ours.pyLatency?.recordedMedianMs ?? Number.NaN)} ms (Python); POST answered median ${f1(ours.tsLatency.submitAnswerMedianMs)} ms`,
    `ours: processes counted at start / after: ${ours.idle.processes} / ${(ours.afterWait ?? ours.after1s).processes}; 1 s after the load ${mib(ours.after1s)} MiB; /health after ${f1(ours.readyMs)} ms`,
    ...(skipped
      ? []
      : PEERS.map((s) => {
          const p = peers[s.key]!;
          return `${s.key}: submissions ${f1(p.submitPerS)} /s; processes at start / after ${p.idle.processes} / ${(p.afterWait ?? p.after1s).processes}; 1 s after the load ${mib(p.after1s)} MiB; workers ready after ${f1(p.readyMs)} ms`;
        })),
    `other work on the machine while measuring (cores busy outside the bench, of ${availableParallelism()}): floors ${cores(floorsOtherCores)}${skipped ? "" : PEERS.map((s) => `, ${s.key} ${cores(peers[s.key]!.otherCores)}`).join("")}, ours ${cores(ours.otherCores)}${reusing ? `, ours with JOBS_PER_CHILD ${cores(reusing.otherCores)}` : ""}`,
    `load average before / after: ${loadBefore} / ${loadAfter}`,
  ];
  for (const d of details) console.log(d);
  if (args.json)
    console.log(
      JSON.stringify({
        jobs: JOBS,
        latencySamples: LATENCY_SAMPLES,
        idleWaitS: IDLE_WAIT_S,
        daemon: useBinary ? "binary" : "source",
        python: PYTHON,
        floors: { bun: bunFloor, python: pythonFloor, before: floorsBefore, after: floorsAfter },
        peers: skipped ? { skipped } : peers,
        ours,
        reusing,
        load: { before: loadBefore, after: loadAfter, floorsOtherCores },
      }),
    );
}

try {
  await main();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  killEverything();
}
// Pooled keep-alive connections would hold the process open for a while after the daemon is gone.
process.exit();
