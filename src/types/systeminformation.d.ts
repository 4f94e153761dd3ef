// Types for the two systeminformation modules the daemon imports directly (the package ships
// types for its index only). Importing them, not the index, keeps ~3 MB of unused probes out of
// the daemon's memory.
declare module "systeminformation/lib/cpu.js" {
  export function cpu(): Promise<import("systeminformation").Systeminformation.CpuData>;
}
declare module "systeminformation/lib/memory.js" {
  export function mem(): Promise<import("systeminformation").Systeminformation.MemData>;
}
