// The local worker slots: how many jobs of each queue run at once here, and on which GPU.
//
// Rules (docs/scheduling.md):
// - cpu slots: cores / CPU_SLOT_CORES, capped by memory / CPU_SLOT_MEMORY_MB, at least 1;
// - one slot per GPU: `gpuhigh` when its VRAM >= GPUHIGH_MIN_VRAM_MB, else `gpu`;
// - SLOTS (e.g. `cpu:4,gpu:1,gpuhigh:0,wine:1`) replaces all of that: exactly those slots. GPU slots
//   then take detected GPUs, the largest for gpuhigh and the smallest for gpu, in turn;
// - a slot serves its own queue first; a gpuhigh slot also takes gpu work when idle; GPU slots take
//   cpu work only when CPU_JOBS_ON_GPU_SLOTS is set;
// - every queue of the original is served, as its single default worker listened on all of them:
//   `control` (with `zip` and `clean`, as the original's control worker) has its own CONTROL_SLOTS,
//   which take no core (an orchestrating job mostly waits on its children); with GPU_FALLBACK=cpu
//   (the default) a gpu or gpuhigh queue no slot serves here runs on the cpu slots, and says so.
//   A queue that still has no slot (a custom one, or GPU_FALLBACK=wait) waits, and says why.
import type { Config } from "../config/config.ts";
import type { Capacity, Gpu } from "./capacity.ts";

export interface Slot {
  /** Stable, readable id: `cpu-0`, `gpu-1`, ... */
  id: string;
  queue: string;
  /** Queues this slot takes work from, in order of preference; the first is its own. */
  serves: string[];
  /** The GPU this slot pins for its jobs (CUDA_VISIBLE_DEVICES), or null. */
  gpu: Gpu | null;
  /** Control slots hold orchestrating jobs: no core counted, no warm child kept. */
  kind: "compute" | "control";
  /**
   * Queues this slot serves only because no slot of their own is here, each with the note its
   * attempts get (e.g. gpu on a cpu slot: "no GPU here: ran on cpu").
   */
  fallback: Record<string, string>;
}

export interface SlotRules {
  /** Exact counts per queue (SLOTS); null: derive from the capacity. */
  counts: Record<string, number> | null;
  cpuSlotCores: number;
  cpuSlotMemoryMb: number;
  gpuhighMinVramMb: number;
  cpuJobsOnGpuSlots: boolean;
  /** CONTROL_SLOTS, unless `counts` names `control` itself. */
  controlSlots: number;
  gpuFallback: "cpu" | "wait";
}

/** The slot rules a configuration sets. */
export function slotRules(config: Config): SlotRules {
  return {
    counts: config.slots,
    cpuSlotCores: config.cpuSlotCores,
    cpuSlotMemoryMb: config.cpuSlotMemoryMb,
    gpuhighMinVramMb: config.gpuhighMinVramMb,
    cpuJobsOnGpuSlots: config.cpuJobsOnGpuSlots,
    controlSlots: config.controlSlots,
    gpuFallback: config.gpuFallback,
  };
}

export const GPU_QUEUES = ["gpu", "gpuhigh"] as const;
/** The original's light queues: its control worker served all three. */
export const CONTROL_QUEUES = ["control", "zip", "clean"] as const;
/** Tiers from lowest to highest; custom queues sit outside the ladder. */
export const TIERS = ["cpu", "gpu", "gpuhigh"] as const;

function defaultCounts(capacity: Capacity, rules: SlotRules): Record<string, number> {
  const byCores = Math.floor(capacity.cores / rules.cpuSlotCores);
  const byMemory = capacity.memoryMb > 0 ? Math.floor(capacity.memoryMb / rules.cpuSlotMemoryMb) : byCores;
  const large = capacity.gpus.filter((g) => g.vramMb >= rules.gpuhighMinVramMb).length;
  return { cpu: Math.max(1, Math.min(byCores, byMemory)), gpu: capacity.gpus.length - large, gpuhigh: large };
}

/** The GPU for the i-th slot of `queue`: by default each its own card; with SLOTS, in turn. */
function gpuFor(queue: string, i: number, capacity: Capacity, rules: SlotRules): Gpu | null {
  if (!(GPU_QUEUES as readonly string[]).includes(queue) || capacity.gpus.length === 0) return null;
  const isLarge = (g: Gpu) => g.vramMb >= rules.gpuhighMinVramMb;
  if (rules.counts === null) {
    const cards = capacity.gpus.filter((g) => (queue === "gpuhigh" ? isLarge(g) : !isLarge(g)));
    return cards[i] ?? null;
  }
  const bySize = [...capacity.gpus].sort((a, b) =>
    queue === "gpuhigh" ? b.vramMb - a.vramMb : a.vramMb - b.vramMb,
  );
  return bySize[i % bySize.length] ?? null;
}

function servesFor(queue: string, rules: SlotRules): string[] {
  if (queue === "control") return [...CONTROL_QUEUES];
  const serves = [queue];
  if (queue === "gpuhigh") serves.push("gpu");
  if (rules.cpuJobsOnGpuSlots && (GPU_QUEUES as readonly string[]).includes(queue)) serves.push("cpu");
  return serves;
}

export function buildSlots(capacity: Capacity, rules: SlotRules): Slot[] {
  const counts = { control: rules.controlSlots, ...(rules.counts ?? defaultCounts(capacity, rules)) };
  const slots: Slot[] = [];
  for (const [queue, count] of Object.entries(counts)) {
    for (let i = 0; i < count; i++) {
      slots.push({
        id: `${queue}-${i}`,
        queue,
        serves: servesFor(queue, rules),
        gpu: gpuFor(queue, i, capacity, rules),
        kind: queue === "control" ? "control" : "compute",
        fallback: {},
      });
    }
  }
  // The original's queues that no slot took: on the cpu slots (GPU work only with GPU_FALLBACK=cpu).
  const orphans: Record<string, string> = {};
  for (const queue of CONTROL_QUEUES) orphans[queue] = "no control slot here: ran on cpu";
  if (rules.gpuFallback === "cpu") for (const queue of GPU_QUEUES) orphans[queue] = "no GPU here: ran on cpu";
  for (const [queue, note] of Object.entries(orphans)) {
    if (slots.some((s) => s.serves.includes(queue))) continue;
    for (const slot of slots.filter((s) => s.queue === "cpu")) {
      slot.serves.push(queue);
      slot.fallback[queue] = note;
    }
  }
  return slots.sort((a, b) => Number(a.kind === "control") - Number(b.kind === "control"));
}

/** Where a retry goes: gpuhigh when some slot serves it, else the highest tier a slot serves. */
export function escalationQueue(slots: readonly Slot[]): string | null {
  for (const tier of [...TIERS].reverse()) if (slots.some((s) => s.serves.includes(tier))) return tier;
  return null;
}

/** The original's queues: each is described even when nothing serves it. */
export const KNOWN_QUEUES = ["cpu", "gpu", "gpuhigh", ...CONTROL_QUEUES] as const;

export interface QueueService {
  /** local: a slot of its own (or a higher tier) takes it; fallback: only a stand-in does; none: it waits. */
  how: "local" | "fallback" | "none";
  /** The slots that take its work. */
  by: string[];
  /** The stand-in's note (e.g. "no GPU here: ran on cpu"), for fallback. */
  note: string | null;
}

/** How `queue` is served by these slots. */
export function queueService(slots: readonly Slot[], queue: string): QueueService {
  const by = slots.filter((s) => s.serves.includes(queue));
  if (by.length === 0) return { how: "none", by: [], note: null };
  const stand = by.filter((s) => queue in s.fallback);
  if (stand.length < by.length) return { how: "local", by: by.map((s) => s.id), note: null };
  return { how: "fallback", by: by.map((s) => s.id), note: stand[0]!.fallback[queue]! };
}
