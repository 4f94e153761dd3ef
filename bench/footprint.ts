// The daemon's memory footprint (issue #13): its RSS, and that of every process it started (those
// that carry its node marker PIXYZ_NODE=<node id>: warm children, job children), at start, right
// after a load of no-op jobs and once the load has been over for the idle delay (the warm children
// retire after WARM_IDLE).
//
//   bun bench/footprint.ts [--jobs 2000] [--source] [--settle 3] [--warm-idle 60] [--idle 65]
//                          [--env KEY=VALUE ...] [--json]
//
// --source runs the daemon from src/ even when dist/pixyz-scheduler exists; --settle: seconds
// between the daemon answering /health and the first reading; --warm-idle: the daemon's WARM_IDLE;
// --idle: seconds from the end of the load to the last reading; --env: a variable for the daemon
// (repeatable: a setting of the systemd unit such as BUN_JSC_useFTLJIT=0). The CPU per job over
// the load, of the daemon (all its threads: what a memory setting costs the hot path), of the job
// processes it reaped, and of the whole machine, shows where a job's time goes. Each reading lists VmRSS with its
// anonymous and file-backed parts (RssAnon, RssFile: the latter are pages of the executable, which
// the kernel can drop under pressure) and VmHWM, the peak so far. The targets are in
// docs/performance.md. Nothing here asserts: it reports.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  busyTicks,
  client,
  footprintKb,
  loadavg,
  NOOP_JOB,
  processesWithEnv,
  startDaemon,
  usesBinary,
} from "./lib.ts";

const { values: args } = parseArgs({
  options: {
    jobs: { type: "string", default: "2000" },
    source: { type: "boolean", default: false },
    settle: { type: "string", default: "3" },
    "warm-idle": { type: "string", default: "60" },
    idle: { type: "string", default: "" },
    env: { type: "string", multiple: true, default: [] },
    json: { type: "boolean", default: false },
  },
});
const JOBS = Number(args.jobs);
const SETTLE_S = Number(args.settle);
const WARM_IDLE_S = Number(args["warm-idle"]);
const IDLE_S = args.idle ? Number(args.idle) : WARM_IDLE_S + 5;
const CONCURRENCY = 4;
const useBinary = usesBinary(args.source);

const work = mkdtempSync(join(tmpdir(), "pxs-footprint-"));
const dataDir = join(work, "data");
const scriptPath = join(work, "noop.ts");
writeFileSync(scriptPath, NOOP_JOB);

/** VmRSS, RssAnon, RssFile and VmHWM of one process, in KiB. */
function status(pid: number) {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  return { rss: field("VmRSS"), anon: field("RssAnon"), file: field("RssFile"), hwm: field("VmHWM") };
}

/**
 * CPU time so far, in ms: one process's (all its threads: utime + stime), its reaped children's
 * (cutime + cstime: for the daemon, its TS jobs' processes), and the whole machine's busy time.
 */
function cpuMs(pid: number): { own: number; children: number; machine: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  const ms = (ticks: number) => (ticks * 1000) / CLOCK_TICKS;
  return {
    own: ms(Number(fields[11]) + Number(fields[12])),
    children: ms(Number(fields[13]) + Number(fields[14])),
    machine: ms(busyTicks()),
  };
}
const CLOCK_TICKS = 100;

interface Reading {
  moment: string;
  daemon: ReturnType<typeof status>;
  /** The daemon plus every live process carrying its node marker. */
  all: { processes: number; rss: number; pss: number };
}

const extraEnv = Object.fromEntries(
  (args.env ?? []).map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]),
);
const daemon = await startDaemon(dataDir, useBinary, { WARM_IDLE: String(WARM_IDLE_S), ...extraEnv });
const marker = `PIXYZ_NODE=${readFileSync(join(dataDir, "node-id"), "utf8").trim()}`;
const readings: Reading[] = [];
let cpuPerJobMs = Number.NaN;
let childrenCpuPerJobMs = Number.NaN;
let machineCpuPerJobMs = Number.NaN;
function read(moment: string): void {
  const pids = [daemon.pid, ...processesWithEnv(marker).filter((pid) => pid !== daemon.pid)];
  readings.push({ moment, daemon: status(daemon.pid), all: footprintKb(pids) });
}

try {
  await Bun.sleep(SETTLE_S * 1000);
  read(`at start (+${SETTLE_S} s)`);

  const api = client(daemon.url, new File([readFileSync(scriptPath)], "noop.ts"));
  const started = performance.now();
  const cpuBefore = cpuMs(daemon.pid);
  let left = JOBS;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (left > 0) {
        left--;
        await api.submit();
      }
    }),
  );
  // Until no queue holds a waiting or running job (one small request per poll).
  while ((await api.unfinished()) > 0) await Bun.sleep(100);
  const loadS = (performance.now() - started) / 1000;
  const cpuAfter = cpuMs(daemon.pid);
  cpuPerJobMs = (cpuAfter.own - cpuBefore.own) / JOBS;
  childrenCpuPerJobMs = (cpuAfter.children - cpuBefore.children) / JOBS;
  machineCpuPerJobMs = (cpuAfter.machine - cpuBefore.machine) / JOBS;
  read(`after ${JOBS} jobs (${loadS.toFixed(1)} s)`);
  await Bun.sleep(IDLE_S * 1000);
  read(`${IDLE_S} s after the load`);
} finally {
  await daemon.stop();
  rmSync(work, { recursive: true, force: true });
}

const mib = (kb: number) => `${(kb / 1024).toFixed(1)}`;
console.log(
  `footprint: ${useBinary ? "dist/pixyz-scheduler" : "src/ (bun)"}, SLOTS=cpu:2, WARM_IDLE=${WARM_IDLE_S}, ` +
    `${JOBS} no-op jobs (${CONCURRENCY} submissions in flight)` +
    `${Object.keys(extraEnv).length ? `, ${(args.env ?? []).join(" ")}` : ""}; load average ${loadavg()}`,
);
console.log(
  `CPU per job over the load: the daemon ${cpuPerJobMs.toFixed(2)} ms (all its threads), the job ` +
    `processes it reaped ${childrenCpuPerJobMs.toFixed(2)} ms, the whole machine ${machineCpuPerJobMs.toFixed(2)} ms ` +
    "(this client and other work included)",
);
const rows = [
  ["moment", "daemon RSS", "anon", "file", "peak (HWM)", "with its processes: RSS", "PSS", "processes"],
  ...readings.map((r) => [
    r.moment,
    mib(r.daemon.rss),
    mib(r.daemon.anon),
    mib(r.daemon.file),
    mib(r.daemon.hwm),
    mib(r.all.rss),
    mib(r.all.pss),
    String(r.all.processes),
  ]),
];
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
for (const [i, row] of rows.entries()) {
  console.log(
    row.map((cell, j) => (j === 0 ? cell.padEnd(widths[j]!) : cell.padStart(widths[j]!))).join("  "),
  );
  if (i === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "));
}
console.log(
  "(MiB; RSS of the daemon and of every process carrying its node marker; PSS splits shared pages)",
);
if (args.json) {
  console.log(
    JSON.stringify({
      binary: useBinary,
      jobs: JOBS,
      env: extraEnv,
      cpuPerJobMs,
      childrenCpuPerJobMs,
      machineCpuPerJobMs,
      readings,
    }),
  );
}
