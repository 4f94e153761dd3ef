// The child side of a job: reads its JobSpec from stdin, loads the user script, calls the
// entrypoint with (ctx, params) and reports progress, result or error on fd 3.
// Bundled on its own (scripts/gen-embedded.ts) and kept tiny: every import here is paid per job.
import { writeSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { createCtx } from "./ctx.ts";
import { CHANNEL_FD, type ChildMessage, type JobSpec } from "./protocol.ts";

function send(message: ChildMessage): void {
  // Synchronous write: the line is in the pipe before the process can exit.
  writeSync(CHANNEL_FD, `${JSON.stringify(message)}\n`);
}

function describe(error: unknown): { name: string; message: string; stack: string } {
  if (error instanceof Error) {
    return {
      name: error.name,
      message: error.message,
      stack: error.stack ?? `${error.name}: ${error.message}`,
    };
  }
  return { name: "Error", message: String(error), stack: `thrown value: ${String(error)}` };
}

async function run(): Promise<number> {
  const spec = JSON.parse(await Bun.stdin.text()) as JobSpec;
  const ctx = createCtx(spec, send);
  try {
    const module = (await import(pathToFileURL(spec.script).href)) as Record<string, unknown>;
    const entry = module[spec.entrypoint];
    if (typeof entry !== "function") {
      throw new Error(`The script does not export a function named '${spec.entrypoint}'`);
    }
    const value = await entry(ctx, spec.params);
    ctx.progress.stop();
    // Undefined becomes null, as the original's None; a value JSON cannot carry is the script's error.
    const json = JSON.stringify(value ?? null);
    send({ t: "result", value: JSON.parse(json) });
    return 0;
  } catch (error) {
    send({ t: "error", ...describe(error) });
    return 1;
  }
}

process.exit(await run());
