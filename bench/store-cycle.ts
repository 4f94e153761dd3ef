// The store's share of one job, without HTTP or processes: insert (its commit flushed to disk, as
// a submission waits for it), claim, one progress save and the outcome with the pgid, on a real
// SQLite file. Prints µs per job (median of rounds), and the first and last rounds' wall time:
// the store keeps every job, so a query that scans the history shows as a last round slower than
// the first.
//
//   bun bench/store-cycle.ts [--jobs 2000] [--rounds 5]
//
// Nothing here asserts: it reports, to compare a change to the store before and after.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { JobStatus } from "../src/jobs/states.ts";
import { openDatabase } from "../src/store/db.ts";
import { JobStore } from "../src/store/job-store.ts";
import { jobValues } from "../test/helpers/job-values.ts";

const { values: args } = parseArgs({
  options: { jobs: { type: "string", default: "2000" }, rounds: { type: "string", default: "5" } },
});
const JOBS = Number(args.jobs);
const dir = mkdtempSync(join(tmpdir(), "pxs-store-cycle-"));
const store = new JobStore(openDatabase(join(dir, "jobs.sqlite")));

const perJobUs: number[] = [];
const cpuPerJobUs: number[] = [];
for (let round = 0; round < Number(args.rounds); round++) {
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < JOBS; i++) {
    store.insert(jobValues());
    await store.synced();
    const claimed = store.claimNext("cpu", "cpu-0", "node")!;
    store.saveProgress(claimed.job.id, claimed.attempt.id, 50, "[]");
    store.finishAttempt(
      claimed.attempt.id,
      // The pgid goes with the end, as a short job's does.
      {
        cause: "success",
        exitCode: 0,
        signal: null,
        peakRssKb: 1000,
        error: null,
        stepsJson: "[]",
        pgid: 4242,
      },
      { status: JobStatus.SUCCESS, progress: 100, stepsJson: "[]", resultJson: "null", error: null },
    );
  }
  perJobUs.push(((performance.now() - started) * 1000) / JOBS);
  const used = process.cpuUsage(cpu);
  cpuPerJobUs.push((used.user + used.system) / JOBS);
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
console.log(
  `store cycle, µs per job (median of ${perJobUs.length} rounds of ${JOBS}): ` +
    `${median(perJobUs).toFixed(0)} wall, ${median(cpuPerJobUs).toFixed(0)} CPU; ` +
    `first round ${perJobUs[0]!.toFixed(0)}, last ${perJobUs.at(-1)!.toFixed(0)} µs wall (${perJobUs.length * JOBS} jobs stored)`,
);
store.close();
rmSync(dir, { recursive: true, force: true });
