// Warm children: a started harness waits in each slot; the job's output still reaches its log,
// nothing is left behind at shutdown, and WARM_CHILDREN=false starts every job cold.
import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { listProcesses } from "../src/runner/process-tree.ts";
import { scriptFile, startTestDaemon, type TestDaemon } from "./helpers/daemon.ts";
import { eventually } from "./helpers/procs.ts";

let daemon: TestDaemon | null = null;
afterEach(async () => {
  await daemon?.close();
  daemon = null;
});

/** Live processes started by the daemon of `dataDir` (they carry its node id). */
function childrenOf(dataDir: string): number[] {
  const node = readFileSync(join(dataDir, "node-id"), "utf8").trim();
  return listProcesses()
    .filter((p) => p.state !== "Z")
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p.pid}/environ`, "latin1").split("\0").includes(`PIXYZ_NODE=${node}`);
      } catch {
        return false;
      }
    })
    .map((p) => p.pid);
}

const uuidOf = async (res: Response) => ((await res.json()) as { uuid: string }).uuid;
const CHATTY = `export function main(ctx) {
  console.log("to stdout", process.env.PIXYZ_JOB_ID);
  console.error("to stderr");
  return { pid: process.pid, cwd: process.cwd(), job: process.env.PIXYZ_JOB_ID };
}`;

describe("warm children", () => {
  test("a slot that ran a job keeps one waiting; the next job runs in it with its own folder, id and log", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1" });
    const dataDir = daemon.dataDir;
    // None at start: an idle daemon costs its own memory only.
    await Bun.sleep(300);
    expect(childrenOf(dataDir)).toEqual([]);
    await daemon.waitFor(await uuidOf(await daemon.submit({ script: scriptFile(CHATTY) })));
    expect(await eventually(() => childrenOf(dataDir).length === 1, 5000)).toBe(true);
    const waiting = childrenOf(dataDir);
    const uuid = await uuidOf(await daemon.submit({ script: scriptFile(CHATTY) }));
    const details = await daemon.waitFor(uuid);
    const result = details.result as { pid: number; cwd: string; job: string };
    expect(waiting).toContain(result.pid);
    expect(result.cwd).toBe(join(dataDir, "jobs", uuid));
    expect(result.job).toBe(uuid);
    const log = await (await daemon.api(`/jobs/${uuid}/logs`)).text();
    expect(log).toContain(`to stdout ${uuid}`);
    expect(log).toContain("to stderr");
    // The slot got a new warm child while the job ran.
    expect(await eventually(() => childrenOf(dataDir).length === 1, 5000)).toBe(true);
    await daemon.close({ keepData: true });
    daemon = null;
    expect(await eventually(() => childrenOf(dataDir).length === 0, 5000)).toBe(true);
  });

  test("after WARM_IDLE without a job the warm children are stopped (and their pipes closed); work brings them back", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:2", WARM_IDLE: "1" });
    const dataDir = daemon.dataDir;
    const fds = () => readdirSync("/proc/self/fd").length;
    const run = async () =>
      (await daemon!.waitFor(await uuidOf(await daemon!.submit({ script: scriptFile(CHATTY) })))).status;
    expect(await run()).toBe("SUCCESS");
    expect(await eventually(() => childrenOf(dataDir).length === 1, 5000)).toBe(true);
    const before = fds();
    expect(await eventually(() => childrenOf(dataDir).length === 0, 10000)).toBe(true);
    expect(await eventually(() => fds() < before, 3000)).toBe(true);
    expect(await run()).toBe("SUCCESS");
    expect(await eventually(() => childrenOf(dataDir).length === 1, 5000)).toBe(true);
  });

  test("WARM_CHILDREN=false: nothing waits, jobs start cold and run the same", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1", WARM_CHILDREN: "false" });
    await Bun.sleep(300);
    expect(childrenOf(daemon.dataDir)).toEqual([]);
    const uuid = await uuidOf(await daemon.submit({ script: scriptFile(CHATTY) }));
    const details = await daemon.waitFor(uuid);
    expect(details.status).toBe("SUCCESS");
    expect(await (await daemon.api(`/jobs/${uuid}/logs`)).text()).toContain(`to stdout ${uuid}`);
  });
});

describe("a process that escapes the job's group", () => {
  test("keeping the job's output open does not hold the attempt (warm child)", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1" });
    const source = `export function main() {
      const escaped = Bun.spawn(["setsid", "sleep", "8"], { stdout: "inherit", stderr: "inherit" });
      return { escaped: escaped.pid };
    }`;
    const started = Date.now();
    const uuid = await uuidOf(await daemon.submit({ script: scriptFile(source) }));
    const details = await daemon.waitFor(uuid);
    expect(details.status).toBe("SUCCESS");
    expect(Date.now() - started).toBeLessThan(6000);
    process.kill((details.result as { escaped: number }).escaped, "SIGKILL");
  });
});
