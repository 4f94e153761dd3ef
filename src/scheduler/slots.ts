// The local worker slots: how many jobs of each queue run at once here, and on which GPU.
//
// Rules (docs/scheduling.md):
// - cpu slots: cores / CPU_SLOT_CORES, capped by memory / CPU_SLOT_MEMORY_MB, at least 1;
// - one slot per GPU: `gpuhigh` when its VRAM >= GPUHIGH_MIN_VRAM_MB, else `gpu`;
// - SLOTS (e.g. `cpu:4,gpu:1,gpuhigh:0,wine:1`) replaces all of that: exactly those slots. GPU slots
//   then take detected GPUs, the largest for gpuhigh and the smallest for gpu, in turn;
// - a slot serves its own queue first; a gpuhigh slot also takes gpu work when idle; GPU slots take
//   cpu work only when CPU_JOBS_ON_GPU_SLOTS is set.
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
}

export interface SlotRules {
  /** Exact counts per queue (SLOTS); null: derive from the capacity. */
  counts: Record<string, number> | null;
  cpuSlotCores: number;
  cpuSlotMemoryMb: number;
  gpuhighMinVramMb: number;
  cpuJobsOnGpuSlots: boolean;
}

/** The slot rules a configuration sets. */
export function slotRules(config: Config): SlotRules {
  return {
    counts: config.slots,
    cpuSlotCores: config.cpuSlotCores,
    cpuSlotMemoryMb: config.cpuSlotMemoryMb,
    gpuhighMinVramMb: config.gpuhighMinVramMb,
    cpuJobsOnGpuSlots: config.cpuJobsOnGpuSlots,
  };
}

export const GPU_QUEUES = ["gpu", "gpuhigh"] as const;
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
  const serves = [queue];
  if (queue === "gpuhigh") serves.push("gpu");
  if (rules.cpuJobsOnGpuSlots && (GPU_QUEUES as readonly string[]).includes(queue)) serves.push("cpu");
  return serves;
}

export function buildSlots(capacity: Capacity, rules: SlotRules): Slot[] {
  const counts = rules.counts ?? defaultCounts(capacity, rules);
  const slots: Slot[] = [];
  for (const [queue, count] of Object.entries(counts)) {
    for (let i = 0; i < count; i++) {
      slots.push({
        id: `${queue}-${i}`,
        queue,
        serves: servesFor(queue, rules),
        gpu: gpuFor(queue, i, capacity, rules),
      });
    }
  }
  return slots;
}

/** Where a retry goes: gpuhigh when some slot serves it, else the highest tier a slot serves. */
export function escalationQueue(slots: readonly Slot[]): string | null {
  for (const tier of [...TIERS].reverse()) if (slots.some((s) => s.serves.includes(tier))) return tier;
  return null;
}
