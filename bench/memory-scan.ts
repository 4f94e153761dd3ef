// The memory watch's /proc scan on a busy machine: with N other processes running (sleepers in
// sessions of their own, as on a workstation), what one scan costs when every process's stat is
// read (process-tree.ts rssByGroup, the scan before group-rss.ts) against the cached scan
// (group-rss.ts), while one job of two processes is watched. Scans alternate, same machine state.
//
//   bun bench/memory-scan.ts [--others 400] [--scans 200]
//
// Reports; asserts nothing. docs/performance.md records runs.
import { parseArgs } from "node:util";
import { GroupRss } from "../src/runner/group-rss.ts";
import { killGroup } from "../src/runner/kill.ts";
import { rssByGroup } from "../src/runner/process-tree.ts";
import { median } from "./lib.ts";

const { values: args } = parseArgs({
  options: { others: { type: "string", default: "400" }, scans: { type: "string", default: "200" } },
});
const OTHERS = Number(args.others);
const SCANS = Number(args.scans);

const spawnLeader = (argv: string[]) =>
  Bun.spawn(argv, { detached: true, stdout: "ignore", stderr: "ignore" });
const others = Array.from({ length: OTHERS }, () => spawnLeader(["sleep", "600"]));
const job = spawnLeader(["sh", "-c", "sleep 600 & wait"]);
await Bun.sleep(500);

try {
  const groups = new Set([job.pid]);
  const cached = new GroupRss();
  const full: number[] = [];
  const incremental: number[] = [];
  let read = 0;
  let listed = 0;
  for (let i = 0; i < SCANS; i++) {
    let start = performance.now();
    rssByGroup(groups);
    full.push(performance.now() - start);
    start = performance.now();
    cached.measure(groups);
    incremental.push(performance.now() - start);
    read += cached.last.read;
    listed += cached.last.listed;
    await Bun.sleep(5); // scans are 250 ms apart in the daemon; a little gap keeps other work flowing
  }
  const [f, c] = [median(full), median(incremental)];
  console.log(
    `processes listed per scan: ${(listed / SCANS).toFixed(0)}, stats read by the cached scan: ${(read / SCANS).toFixed(1)}`,
  );
  console.log(`every stat read: ${(f * 1000).toFixed(0)} µs a scan (median of ${SCANS})`);
  console.log(`cached scan:     ${(c * 1000).toFixed(0)} µs a scan (${(f / c).toFixed(1)}x less)`);
  console.log(
    `a core's share at 4 scans a second: ${((f * 4) / 10).toFixed(2)} % -> ${((c * 4) / 10).toFixed(2)} %`,
  );
} finally {
  for (const proc of [...others, job]) killGroup(proc.pid);
}
