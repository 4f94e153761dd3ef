// The values of a job row for tests that use the store directly (no submission): a custom script
// job on cpu, this node's own (no origin node); `over` changes what a test needs.
import { randomUUID } from "node:crypto";
import type { JobRow } from "../../src/store/schema.ts";

let seq = 0;

export function jobValues(over: Partial<JobRow> = {}) {
  seq += 1;
  return {
    uuid: randomUUID(),
    name: `job-${seq}`,
    process: "custom",
    scriptFile: "script.ts",
    inputFile: null,
    entrypoint: "main",
    queue: "cpu",
    priority: 0,
    timeLimitS: 60,
    computeOnly: false,
    rootFile: null,
    paramsJson: "{}",
    configJson: "{}",
    waitReason: null,
    originNode: null,
    requestedAt: Date.now(),
    ...over,
  };
}
