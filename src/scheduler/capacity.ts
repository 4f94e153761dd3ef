// What this machine has: cores and memory (node:os), GPUs (nvidia-smi, asked directly; the GPU
// probe has a deadline and degrades to "no GPU": a broken nvidia-smi costs at most a second and
// never a start).
import { availableParallelism, totalmem } from "node:os";

export interface Gpu {
  index: number;
  name: string;
  vramMb: number;
  usedMb: number;
  utilizationPct: number;
}

export interface Capacity {
  cores: number;
  memoryMb: number;
  gpus: Gpu[];
  /** What went wrong while probing, for the log and GET /slots; empty when all went well. */
  notes: string[];
}

const PROBE_TIMEOUT_MS = 1000;

/** Parses `nvidia-smi --query-gpu=index,name,memory.total,memory.used,utilization.gpu --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(output: string): Gpu[] {
  const gpus: Gpu[] = [];
  for (const line of output.split("\n")) {
    const cells = line.split(",").map((c) => c.trim());
    if (cells.length < 5) continue;
    const [index, name, total, used, util] = cells as [string, string, string, string, string];
    const number = (text: string) => (/^\d+(\.\d+)?$/.test(text) ? Number(text) : 0);
    if (!/^\d+$/.test(index) || !/^\d+(\.\d+)?$/.test(total)) continue;
    gpus.push({
      index: Number(index),
      name,
      vramMb: number(total),
      usedMb: number(used),
      utilizationPct: number(util),
    });
  }
  return gpus;
}

/** GPUs as nvidia-smi sees them; [] when it is not installed. */
export async function probeGpus(nvidiaSmi: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<Gpu[]> {
  let proc: ReturnType<typeof Bun.spawn>;
  try {
    proc = Bun.spawn(
      [
        nvidiaSmi,
        "--query-gpu=index,name,memory.total,memory.used,utilization.gpu",
        "--format=csv,noheader,nounits",
      ],
      { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  try {
    const [output, code] = await Promise.all([
      new Response(proc.stdout as ReadableStream).text(),
      proc.exited,
    ]);
    if (proc.signalCode) throw new Error(`${nvidiaSmi} did not answer within ${timeoutMs} ms`);
    if (code !== 0) throw new Error(`${nvidiaSmi} exited with code ${code}`);
    return parseNvidiaSmi(output);
  } finally {
    clearTimeout(timer);
  }
}

export async function detectCapacity(options: { nvidiaSmi: string }): Promise<Capacity> {
  const notes: string[] = [];
  const gpus = await probeGpus(options.nvidiaSmi).catch((error: Error) => {
    notes.push(`GPU probe failed: ${error.message}; no GPU slots`);
    return [] as Gpu[];
  });
  // The CPUs this process may run on: a container or an affinity mask may give fewer than the
  // machine has.
  const cores = Math.max(1, availableParallelism());
  return { cores, memoryMb: Math.floor(totalmem() / 1024 / 1024), gpus, notes };
}
