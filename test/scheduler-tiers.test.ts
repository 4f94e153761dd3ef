// Capacity detection, slots and tiers, GPU pinning, priority order, escalation and memory limits.
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseNvidiaSmi, probeGpus } from "../src/scheduler/capacity.ts";
import { buildSlots, escalationQueue, type SlotRules } from "../src/scheduler/slots.ts";
import { scriptFile, startTestDaemon, type TestDaemon, tempDir } from "./helpers/daemon.ts";

const FAKE_SMI = join(import.meta.dir, "fixtures/fake-nvidia-smi.sh");
const rules: SlotRules = {
  counts: null,
  cpuSlotCores: 1,
  cpuSlotMemoryMb: 2048,
  gpuhighMinVramMb: 20480,
  cpuJobsOnGpuSlots: false,
  controlSlots: 2,
  gpuFallback: "cpu",
};
const twoGpus = parseNvidiaSmi("0, Small, 6138, 1, 0\n1, Large, 49140, 2, 5\n");

let daemon: TestDaemon | null = null;
afterEach(async () => {
  await daemon?.close();
  daemon = null;
});

const uuidOf = async (res: Response) => ((await res.json()) as { uuid: string }).uuid;

describe("capacity and slots", () => {
  test("nvidia-smi's CSV is parsed; a missing nvidia-smi means no GPU", async () => {
    expect(twoGpus).toEqual([
      { index: 0, name: "Small", vramMb: 6138, usedMb: 1, utilizationPct: 0 },
      { index: 1, name: "Large", vramMb: 49140, usedMb: 2, utilizationPct: 5 },
    ]);
    expect(await probeGpus("/nonexistent/nvidia-smi")).toEqual([]);
  });

  test("a hanging nvidia-smi is given up on within its deadline", async () => {
    const dir = tempDir();
    const hang = join(dir, "nvidia-smi");
    writeFileSync(hang, "#!/bin/sh\nexec sleep 30\n");
    chmodSync(hang, 0o755);
    const started = performance.now();
    await expect(probeGpus(hang, 300)).rejects.toThrow(/did not answer/);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  test("default rules: cpu slots from cores and memory, one slot per GPU, the large one gpuhigh", () => {
    const slots = buildSlots({ cores: 8, memoryMb: 8192, gpus: twoGpus, notes: [] }, rules);
    expect(slots.map((s) => [s.id, s.gpu?.index ?? null, s.serves])).toEqual([
      ["cpu-0", null, ["cpu"]],
      ["cpu-1", null, ["cpu"]],
      ["cpu-2", null, ["cpu"]],
      ["cpu-3", null, ["cpu"]], // 8 GiB / 2 GiB per job caps 8 cores at 4
      ["gpu-0", 0, ["gpu"]],
      ["gpuhigh-0", 1, ["gpuhigh", "gpu"]],
      // The control queue (and zip, clean) on slots of its own, after the compute slots.
      ["control-0", null, ["control", "zip", "clean"]],
      ["control-1", null, ["control", "zip", "clean"]],
    ]);
    expect(slots.filter((s) => s.kind === "control").map((s) => s.id)).toEqual(["control-0", "control-1"]);
    // The GPUs serve their queues: no fallback anywhere.
    expect(slots.every((s) => Object.keys(s.fallback).length === 0)).toBe(true);
  });

  test("no GPU here: gpu and gpuhigh run on the cpu slots (GPU_FALLBACK=cpu, with a note), or wait", () => {
    const cpuOnly = { cores: 2, memoryMb: 8192, gpus: [], notes: [] };
    const fallback = buildSlots(cpuOnly, rules);
    expect(fallback.map((s) => [s.id, s.serves])).toEqual([
      ["cpu-0", ["cpu", "gpu", "gpuhigh"]],
      ["cpu-1", ["cpu", "gpu", "gpuhigh"]],
      ["control-0", ["control", "zip", "clean"]],
      ["control-1", ["control", "zip", "clean"]],
    ]);
    expect(fallback[0]!.fallback).toEqual({
      gpu: "no GPU here: ran on cpu",
      gpuhigh: "no GPU here: ran on cpu",
    });
    expect(escalationQueue(fallback)).toBe("gpuhigh");

    const waiting = buildSlots(cpuOnly, { ...rules, gpuFallback: "wait" });
    expect(waiting.map((s) => [s.id, s.serves])).toEqual([
      ["cpu-0", ["cpu"]],
      ["cpu-1", ["cpu"]],
      ["control-0", ["control", "zip", "clean"]],
      ["control-1", ["control", "zip", "clean"]],
    ]);

    // No control slot: the cpu slots take the control queues too, and say so.
    const noControl = buildSlots(cpuOnly, { ...rules, controlSlots: 0, gpuFallback: "wait" });
    expect(noControl.map((s) => [s.id, s.serves])).toEqual([
      ["cpu-0", ["cpu", "control", "zip", "clean"]],
      ["cpu-1", ["cpu", "control", "zip", "clean"]],
    ]);
    expect(noControl[0]!.fallback.control).toBe("no control slot here: ran on cpu");
  });

  test("SLOTS gives exactly those slots; GPU slots take the cards by size; custom queues work alike", () => {
    const slots = buildSlots(
      { cores: 64, memoryMb: 1 << 20, gpus: twoGpus, notes: [] },
      { ...rules, counts: { cpu: 1, gpu: 2, gpuhigh: 1, wine: 1, control: 1 }, cpuJobsOnGpuSlots: true },
    );
    expect(slots.map((s) => [s.id, s.gpu?.index ?? null, s.serves])).toEqual([
      ["cpu-0", null, ["cpu"]],
      ["gpu-0", 0, ["gpu", "cpu"]],
      ["gpu-1", 1, ["gpu", "cpu"]],
      ["gpuhigh-0", 1, ["gpuhigh", "gpu", "cpu"]],
      ["wine-0", null, ["wine"]],
      ["control-0", null, ["control", "zip", "clean"]], // SLOTS' control:1 wins over CONTROL_SLOTS
    ]);
    expect(escalationQueue(slots)).toBe("gpuhigh");
    expect(escalationQueue(slots.filter((s) => s.queue !== "gpuhigh"))).toBe("gpu");
  });

  test("a fake 2-GPU machine: /slots shows the documented slots and GPU jobs get their card pinned", async () => {
    daemon = await startTestDaemon({ SLOTS: "", NVIDIA_SMI: FAKE_SMI, CPU_SLOT_MEMORY_MB: "1024" });
    const view = (await (await daemon.api("/slots")).json()) as {
      slots: { id: string; gpu: { index: number } | null }[];
      capacity: { gpus: unknown[] };
    };
    expect(view.capacity.gpus).toHaveLength(2);
    expect(view.slots.filter((s) => s.gpu).map((s) => [s.id, s.gpu!.index])).toEqual([
      ["gpu-0", 0],
      ["gpuhigh-0", 1],
    ]);
    const source = `export function main() {
      return { cuda: process.env.CUDA_VISIBLE_DEVICES ?? null, nvidia: process.env.NVIDIA_VISIBLE_DEVICES ?? null, slot: process.env.PIXYZ_SLOT };
    }`;
    const gpu = await uuidOf(await daemon.submit({ script: scriptFile(source), config: '{"queue":"gpu"}' }));
    const high = await uuidOf(
      await daemon.submit({ script: scriptFile(source), config: '{"queue":"gpuhigh"}' }),
    );
    const cpu = await uuidOf(await daemon.submit({ script: scriptFile(source) }));
    expect((await daemon.waitFor(gpu)).result).toEqual({ cuda: "0", nvidia: "0", slot: "gpu-0" });
    expect((await daemon.waitFor(high)).result).toEqual({ cuda: "1", nvidia: "1", slot: "gpuhigh-0" });
    const cpuResult = (await daemon.waitFor(cpu)).result as { cuda: unknown; slot: string };
    expect(cpuResult.cuda).toBeNull();
    expect(cpuResult.slot).toMatch(/^cpu-/);
  });
});

describe("order", () => {
  test("higher priority first, then submission order", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1" });
    const blocker = await uuidOf(
      await daemon.submit({ process: "sleep", params: '{"duration": 0.5}', name: "blocker" }),
    );
    const record = `export function main(ctx) { return { started: Date.now() }; }`;
    const names = [
      ["a", 0],
      ["b", 5],
      ["c", 0],
      ["d", 5],
      ["e", -1],
    ] as const;
    const ids: Record<string, string> = {};
    for (const [name, priority] of names) {
      ids[name] = await uuidOf(
        await daemon.submit({ script: scriptFile(record), name, config: JSON.stringify({ priority }) }),
      );
    }
    await daemon.waitFor(blocker);
    const started: [string, number][] = [];
    for (const [name] of names) {
      const details = await daemon.waitFor(ids[name]!);
      started.push([name, (details.result as { started: number }).started]);
    }
    expect(started.sort((x, y) => x[1] - y[1]).map(([name]) => name)).toEqual(["b", "d", "a", "c", "e"]);
  });
});

describe("escalation", () => {
  const crashOnCpu = `export function main(ctx) {
    ctx.progress.total(1);
    ctx.progress.next("attempt on " + ctx.queue);
    if (ctx.queue === "cpu") process.exit(3);
    return { queue: ctx.queue, retry: ctx.retry };
  }`;

  test("a non-zero exit on cpu runs again on gpuhigh; the steps show both attempts", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1,gpuhigh:1", PIXYZ_RETRY_TIME_LIMIT: "77" });
    const uuid = await uuidOf(await daemon.submit({ script: scriptFile(crashOnCpu) }));
    const details = await daemon.waitFor(uuid);
    expect(details).toMatchObject({
      status: "SUCCESS",
      retry: 1,
      queue: "gpuhigh",
      time_limit: 77,
      progress: 100,
    });
    expect(details.result).toEqual({ queue: "gpuhigh", retry: 1 });
    expect((details.steps as { info: string }[]).map((s) => s.info)).toEqual([
      "attempt on cpu",
      "attempt on gpuhigh",
    ]);
    const attempts = details.attempts as Record<string, unknown>[];
    expect(attempts).toHaveLength(2);
    expect(attempts[0]).toMatchObject({ queue: "cpu", cause: "exit", exit_code: 3 });
    expect(attempts[0]!.note).toContain("escalated from cpu to gpuhigh");
    expect(attempts[1]).toMatchObject({ queue: "gpuhigh", slot: "gpuhigh-0", cause: "success" });
  });

  test("no GPU here (GPU_FALLBACK=cpu): the retry escalates to gpuhigh and runs on a cpu slot, noted", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1" });
    const uuid = await uuidOf(await daemon.submit({ script: scriptFile(crashOnCpu) }));
    const details = await daemon.waitFor(uuid);
    expect(details).toMatchObject({ status: "SUCCESS", retry: 1, queue: "gpuhigh" });
    const attempts = details.attempts as Record<string, unknown>[];
    expect(attempts.map((a) => [a.queue, a.slot])).toEqual([
      ["cpu", "cpu-0"],
      ["gpuhigh", "cpu-0"],
    ]);
    expect(attempts[0]!.note).toContain("escalated from cpu to gpuhigh");
    expect(attempts[1]!.note).toBe("no GPU here: ran on cpu");
  });

  test("without a gpuhigh slot (GPU_FALLBACK=wait) the retry runs on the highest tier there is, and says so", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1", GPU_FALLBACK: "wait" });
    const uuid = await uuidOf(await daemon.submit({ script: scriptFile(crashOnCpu) }));
    const details = await daemon.waitFor(uuid);
    // The retry runs on cpu again, where this script exits again: final after the bounded retry.
    expect(details).toMatchObject({ status: "FAILURE", retry: 1 });
    const attempts = details.attempts as Record<string, unknown>[];
    expect(attempts.map((a) => a.queue)).toEqual(["cpu", "cpu"]);
    expect(attempts[0]!.note).toContain("no slot on this node serves gpuhigh");
    expect(details.error).toContain("exited with code 3");
  });

  test("a script's own exception is final at once; a failure on gpuhigh is final", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1,gpuhigh:1" });
    const thrown = await uuidOf(
      await daemon.submit({ script: scriptFile(`export function main() { throw new Error("bad mesh"); }`) }),
    );
    const onHigh = await uuidOf(
      await daemon.submit({
        script: scriptFile(`export function main() { process.exit(4); }`),
        config: '{"queue":"gpuhigh"}',
      }),
    );
    const a = await daemon.waitFor(thrown);
    expect(a).toMatchObject({ status: "FAILURE", retry: 0 });
    expect((a.attempts as unknown[]).length).toBe(1);
    const b = await daemon.waitFor(onHigh);
    expect(b).toMatchObject({ status: "FAILURE", retry: 0 });
    expect((b.attempts as { cause: string }[]).map((x) => x.cause)).toEqual(["exit"]);
  });

  test("a job over its memory limit is killed and escalated; its peak memory is recorded", async () => {
    daemon = await startTestDaemon({
      SLOTS: "cpu:1,gpuhigh:1",
      MAX_MEMORY_USAGE: "150000",
      MAX_MEMORY_USAGE_GPUHIGH: "0",
    });
    const hog = `export async function main(ctx) {
      if (ctx.queue === "cpu") {
        const blocks = [];
        for (let i = 0; i < 40; i++) { blocks.push(Buffer.alloc(16 * 1024 * 1024, 1)); await Bun.sleep(20); }
        await Bun.sleep(5000);
        return { survived: true };
      }
      return { queue: ctx.queue };
    }`;
    const uuid = await uuidOf(await daemon.submit({ script: scriptFile(hog) }));
    const details = await daemon.waitFor(uuid, undefined, 30000);
    expect(details).toMatchObject({ status: "SUCCESS", retry: 1, result: { queue: "gpuhigh" } });
    const first = (details.attempts as Record<string, unknown>[])[0]!;
    expect(first.cause).toBe("memory");
    expect(first.error as string).toContain("limit 150000 KB");
    expect(first.peak_rss_kb as number).toBeGreaterThan(150000);
  });
});

describe("queue choice", () => {
  test("the script's `schedule` declaration routes it; the user's config wins over it", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1,gpu:1" });
    const declared = `export const schedule = { queue: "gpu", timeLimit: 120, priority: 3 };
      export function main(ctx) { return ctx.queue; }`;
    const routed = await uuidOf(await daemon.submit({ script: scriptFile(declared) }));
    const overridden = await uuidOf(
      await daemon.submit({ script: scriptFile(declared), config: '{"queue":"cpu"}' }),
    );
    expect(await daemon.waitFor(routed)).toMatchObject({
      result: "gpu",
      queue: "gpu",
      time_limit: 120,
      priority: 3,
    });
    expect(await daemon.waitFor(overridden)).toMatchObject({ result: "cpu", queue: "cpu", time_limit: 120 });
    const bad = await daemon.submit({
      script: scriptFile(`export const schedule = { queue: "GPU!" }; export function main() {}`),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { detail: { details: string } }).detail.details).toContain(
      "schedule declaration",
    );
  });
});
