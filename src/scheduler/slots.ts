// The local worker slots: how many jobs of each queue may run at once on this machine.
import { availableParallelism } from "node:os";

export interface Slot {
  /** Stable, readable id: `cpu-0`, `gpu-1`, ... */
  id: string;
  queue: string;
}

/** Slots from an exact per-queue count (SLOTS), or by default one cpu slot per core. */
export function buildSlots(counts: Record<string, number> | null): Slot[] {
  const effective = counts ?? { cpu: Math.max(1, availableParallelism()) };
  const slots: Slot[] = [];
  for (const [queue, count] of Object.entries(effective)) {
    for (let i = 0; i < count; i++) slots.push({ id: `${queue}-${i}`, queue });
  }
  return slots;
}
