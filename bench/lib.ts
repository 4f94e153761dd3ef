// What the benches share: statistics, the child environment, memory readings, the bare-spawn floor
// (spawn-to-exit of a child, one at a time and two at a time), the daemon as a separate process,
// and an HTTP client that submits no-op jobs and measures latency and throughput.
// bench/throughput.ts and bench/peers.ts import it; it measures, it asserts nothing.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readSse } from "../src/cli/client/sse.ts";

export const ROOT = join(import.meta.dir, "..");
export const BINARY = join(ROOT, "dist/pixyz-scheduler");
/** Whether a bench runs the daemon as it ships (the built binary) or from src/ (`--source`, or no build). */
export function usesBinary(source: boolean): boolean {
  return !source && existsSync(BINARY);
}
export const TOKEN = "bench-token";
/** The no-op child of the floor: what the runtime costs to start and exit, with nothing to do. */
export const NOOP_CHILD = "export {};\n";
/** The no-op TS job: what the daemon runs per job when the job itself costs nothing. */
export const NOOP_JOB = "export async function main() {\n  return null;\n}\n";

// ---------------------------------------------------------------------------------------------
// statistics and readings

export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}
export const median = (values: number[]) => quantile(values, 0.5);
export const p95 = (values: number[]) => quantile(values, 0.95);
export const ms = (n: number) => `${n.toFixed(1)} ms`;

/** Only what a job child gets from the daemon too (runner.ts PASS_ENV); never BUN_BE_BUN here. */
export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ["PATH", "HOME", "LANG", "TZ", "TMPDIR", "USER"]) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

/** VmRSS and VmHWM (peak) of one process, in KiB. */
export function rssKb(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

/** The 1-, 5- and 15-minute load averages: other work on the machine skews every number. */
export const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/** Live (not zombie) processes as pid -> parent pid. */
export function processTable(): Map<number, number> {
  const table = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The command name may hold spaces and parentheses: the fields start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] === "Z" || fields[0] === "X") continue;
      table.set(Number(entry), Number(fields[1]));
    } catch {
      // the process ended between readdir and read
    }
  }
  return table;
}

/** `roots` and every live process below them (by parent pid), roots first. */
export function withDescendants(roots: number[]): number[] {
  const table = processTable();
  const found = roots.filter((pid) => table.has(pid));
  for (let i = 0; i < found.length; i++) {
    for (const [pid, ppid] of table) if (ppid === found[i] && !found.includes(pid)) found.push(pid);
  }
  return found;
}

/** Live processes whose environment holds `NAME=value`. */
export function processesWithEnv(entry: string): number[] {
  return [...processTable().keys()].filter((pid) => {
    if (pid === process.pid) return false;
    try {
      return readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").includes(entry);
    } catch {
      return false;
    }
  });
}

/**
 * Resident memory of a set of processes, in KiB: the sum of their RSS (pages shared between them,
 * as a forked pool's, count once per process) and of their PSS (shared pages split between the
 * processes that map them; needs /proc/<pid>/smaps_rollup, so the same user or root).
 */
export function footprintKb(pids: number[]): { processes: number; rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  let processes = 0;
  for (const pid of pids) {
    try {
      rss += rssKb(pid).rss;
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
      pss += Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0);
      processes++;
    } catch {
      // ended meanwhile
    }
  }
  return { processes, rss, pss };
}

// ---------------------------------------------------------------------------------------------
// the floor: spawn-to-exit of a child, as runner.ts spawns (own process group, stdio ignored)

/** The runtime a TS job child runs on: the binary as Bun (BUN_BE_BUN=1) when built, else this Bun. */
export function childRuntime(useBinary: boolean): { command: string[]; env: Record<string, string> } {
  return useBinary
    ? { command: [BINARY, "--no-install"], env: { ...baseEnv(), BUN_BE_BUN: "1" } }
    : { command: [process.execPath, "--no-install"], env: baseEnv() };
}

/** Starts `command`, waits for its exit (code 0 expected); the milliseconds from spawn to exit. */
export async function spawnToExit(
  command: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<number> {
  const started = performance.now();
  const proc = Bun.spawn(command, { cwd, env, stdio: ["ignore", "ignore", "ignore"], detached: true });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`${command.join(" ")} exited with ${code}`);
  return performance.now() - started;
}

/**
 * `sequentialSamples` spawns one after the other (median, p95 of spawn-to-exit) after 5 to warm the
 * page cache, then `jobs` spawns two at a time (jobs/s).
 */
export async function spawnSeries(spawn: () => Promise<number>, jobs: number, sequentialSamples = 50) {
  for (let i = 0; i < 5; i++) await spawn(); // warm the page cache
  const sequential: number[] = [];
  for (let i = 0; i < sequentialSamples; i++) sequential.push(await spawn());
  let left = jobs;
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
    twoAtATimeJobsPerS: jobs / seconds,
  };
}

// ---------------------------------------------------------------------------------------------
// the daemon, as a separate process, driven over HTTP from this process

export interface DaemonHandle {
  pid: number;
  url: string;
  readyMs: number;
  /** SIGTERM, then waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts the daemon (dist/pixyz-scheduler when `useBinary`, else src/cli/main.ts on this Bun) on a
 * loopback port it picks, with `SLOTS=cpu:2`, `LOG_LEVEL=info` and a fresh `dataDir`; `env` adds or
 * overrides variables. Resolves once `/health` answers 200.
 */
export async function startDaemon(
  dataDir: string,
  useBinary: boolean,
  env: Record<string, string> = {},
): Promise<DaemonHandle> {
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
      ...env,
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
  let url: string;
  try {
    url = await Promise.race([
      listening,
      Bun.sleep(30_000).then(() => Promise.reject(new Error("the daemon did not listen within 30 s"))),
    ]);
    const health = await fetch(`${url}/health`);
    if (!health.ok) throw new Error(`GET /health answered ${health.status}`);
  } catch (error) {
    proc.kill("SIGKILL");
    throw error;
  }
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

export interface Details {
  status: string;
  time_info: { request: string; started: string | null; stopped: string | null };
}

export type Client = ReturnType<typeof client>;

/** The daemon's API as the benches use it; `script` is the job file every submission uploads. */
export function client(url: string, script: File) {
  const headers = { "x-api-key": TOKEN };
  return {
    async submit(): Promise<string> {
      const form = new FormData();
      form.append("script", script);
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
    /**
     * Reads the job's event stream (`GET /events?job=`) to its end, as a client that watches
     * rather than polls; the final status it ended with.
     */
    async watch(uuid: string): Promise<string> {
      const res = await fetch(`${url}/events?job=${uuid}`, { headers });
      if (!res.ok || !res.body) throw new Error(`GET /events?job=${uuid} answered ${res.status}`);
      for await (const event of readSse(res.body)) {
        if (event.event === "end") return (JSON.parse(event.data) as { status: string }).status;
      }
      throw new Error(`the event stream of ${uuid} ended without its end event`);
    },
    /** Jobs waiting or running, every queue together (`GET /queues`: counts, no rows listed). */
    async unfinished(): Promise<number> {
      const res = await fetch(`${url}/queues`, { headers });
      const { queues } = (await res.json()) as { queues: { waiting: number; running: number }[] };
      return queues.reduce((sum, q) => sum + q.waiting + q.running, 0);
    },
  };
}

const time = (iso: string | null) => (iso === null ? Number.NaN : Date.parse(iso));

export async function waitSuccess(api: Client, uuid: string, pollMs: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await api.status(uuid);
    if (status === "SUCCESS") return;
    if (status === "FAILURE" || status === "REVOKED") throw new Error(`job ${uuid} ended ${status}`);
    if (Date.now() > deadline) throw new Error(`job ${uuid} still ${status} after 30 s`);
    await Bun.sleep(pollMs);
  }
}

/** Single jobs timed on an idle daemon, after warm-up (every bench uses the same count). */
export const LATENCY_SAMPLES = 30;
/** Submissions kept in flight by the throughput measure. */
export const SUBMIT_CONCURRENCY = 4;

/**
 * `samples` single jobs on an idle daemon, 50 ms apart, after 3 warm-up jobs: client-observed
 * (POST to the first GET that reads SUCCESS, 2 ms polling) and server-recorded (requested ->
 * stopped) times, and how long the POST took to answer. Then as many jobs again, each watched
 * through its event stream instead of polled (POST to the stream's end).
 */
export async function measureLatency(api: Client, samples = LATENCY_SAMPLES) {
  for (let i = 0; i < 3; i++) await waitSuccess(api, await api.submit(), 2); // warm-up
  const observed: number[] = [];
  const recorded: number[] = [];
  const answered: number[] = [];
  for (let i = 0; i < samples; i++) {
    await Bun.sleep(50); // idle between jobs
    const started = performance.now();
    const uuid = await api.submit();
    answered.push(performance.now() - started);
    await waitSuccess(api, uuid, 2);
    observed.push(performance.now() - started);
    const { time_info } = await api.details(uuid);
    recorded.push(time(time_info.stopped) - time(time_info.request));
  }
  const watched: number[] = [];
  for (let i = 0; i < samples; i++) {
    await Bun.sleep(50);
    const started = performance.now();
    const status = await api.watch(await api.submit());
    if (status !== "SUCCESS") throw new Error(`a no-op job ended ${status}`);
    watched.push(performance.now() - started);
  }
  return {
    observedMedianMs: median(observed),
    observedP95Ms: p95(observed),
    watchedMedianMs: median(watched),
    recordedMedianMs: median(recorded),
    recordedP95Ms: p95(recorded),
    submitAnswerMedianMs: median(answered),
  };
}

/**
 * `jobs` no-op jobs submitted as fast as the client can (`concurrency` requests in flight), until
 * all are SUCCESS. The clock runs from the first submission to the last `stopped` time the daemon
 * recorded (same clock as this process: no polling granularity in the numbers). The wait for the
 * end reads queue counts, not job lists: listing every finished job each poll took the daemon's
 * event loop 2.1 s over an 800-job run (2.7 ms a job), work no user's load would add.
 */
export async function measureThroughput(api: Client, jobs: number, concurrency = SUBMIT_CONCURRENCY) {
  const startedAt = Date.now();
  const uuids: string[] = [];
  let left = jobs;
  const submitter = async () => {
    while (left > 0) {
      left--;
      uuids.push(await api.submit());
    }
  };
  await Promise.all(Array.from({ length: concurrency }, submitter));
  const submittedMs = Date.now() - startedAt;
  const deadline = Date.now() + 300_000;
  for (;;) {
    if ((await api.unfinished()) === 0) break;
    if (Date.now() > deadline) throw new Error("the jobs did not all succeed within 300 s");
    await Bun.sleep(20);
  }
  const details = await Promise.all(uuids.map((uuid) => api.details(uuid)));
  const failed = details.find((d) => d.status !== "SUCCESS");
  if (failed) throw new Error(`a no-op job ended ${failed.status}: see its details`);
  const stopped = details.map((d) => time(d.time_info.stopped)).sort((a, b) => a - b);
  const runMs = details.map((d) => time(d.time_info.stopped) - time(d.time_info.started));
  const gaps = stopped.slice(1).map((t, i) => t - stopped[i]!);
  const seconds = (stopped[stopped.length - 1]! - startedAt) / 1000;
  return {
    jobsPerS: jobs / seconds,
    submitPerS: jobs / (submittedMs / 1000),
    runMedianMs: median(runMs),
    runP95Ms: p95(runMs),
    gapMedianMs: median(gaps),
    gapP95Ms: p95(gaps),
  };
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it). */
export function freePort(): number {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = server.port!;
  server.stop(true);
  return port;
}

// ---------------------------------------------------------------------------------------------
// other work on the machine: CPU time used outside this process and what it started

const USER_HZ = 100; // the unit of /proc/stat and /proc/<pid>/stat times on Linux

/** CPU ticks of this process and every live process below it, with their reaped children's. */
function ownTicks(): number {
  let ticks = 0;
  for (const pid of withDescendants([process.pid])) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]); // utime stime cutime cstime
    } catch {
      // ended meanwhile: its time is in its parent's cutime once reaped
    }
  }
  return ticks;
}

/** Busy CPU ticks of the whole machine (user, nice, system, irq, softirq, steal). */
export function busyTicks(): number {
  const f = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "")
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
}

export type CpuMark = { busy: number; own: number; t: number };
export const cpuMark = (): CpuMark => ({ busy: busyTicks(), own: ownTicks(), t: performance.now() });

/**
 * The cores busy with other work since `from`, on average: the machine's busy time less this
 * process's and its descendants'. 0 on a quiet machine; 1 means a whole core was taken elsewhere.
 */
export function otherCores(from: CpuMark): number {
  const to = cpuMark();
  return (to.busy - from.busy - (to.own - from.own)) / USER_HZ / ((to.t - from.t) / 1000);
}
