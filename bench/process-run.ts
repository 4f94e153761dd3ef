// One run of a built-in process in this process, for bench/processes.ts: a minimal ctx (input,
// outputs, progress, log), then one JSON line: the entrypoint's wall time and CPU time (user +
// system, every thread: wasm compiles in the background) and this process's peak resident memory.
//
//   bun bench/process-run.ts <process file> <input file> <output folder> [params JSON]
import { join } from "node:path";

const [script, input, out, paramsText] = process.argv.slice(2);
if (!script || !input || !out)
  throw new Error("usage: process-run.ts <process file> <input> <output folder> [params]");
const module = (await import(script)) as { main: (ctx: unknown, params: unknown) => Promise<unknown> };
const ctx = {
  params: JSON.parse(paramsText ?? "{}"),
  inputFile: () => input,
  inputArchive: () => null,
  inputDir: () => "/",
  outputDir: (name?: string) => (name ? join(out, name) : out),
  progress: { total() {}, next() {}, stop() {} },
  log() {},
};
const started = performance.now();
const cpu = process.cpuUsage();
await module.main(ctx, ctx.params);
const ms = performance.now() - started;
const used = process.cpuUsage(cpu);
const cpuMs = (used.user + used.system) / 1000;
console.log(JSON.stringify({ ms, cpuMs, maxRssKb: process.resourceUsage().maxRSS }));
