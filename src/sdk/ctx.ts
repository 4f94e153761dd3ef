// Builds the `ctx` object a script receives, on top of the channel to the daemon.
import { mkdirSync } from "node:fs";
import { dirname, resolve, sep } from "node:path";
import type { ChildMessage, JobSpec } from "./protocol.ts";
import type { Ctx } from "./types.ts";

/** `name` inside `dir`, refusing any name that would leave it; parent folders are created. */
function inside(dir: string, name?: string): string {
  if (name === undefined) return dir;
  const path = resolve(dir, name);
  if (!path.startsWith(dir + sep)) throw new Error(`'${name}' is not a path inside ${dir}`);
  mkdirSync(dirname(path), { recursive: true });
  return path;
}

export function createCtx(spec: JobSpec, send: (m: ChildMessage) => void): Ctx {
  let stepOpen = false;
  return {
    params: spec.params,
    jobId: spec.jobId,
    queue: spec.queue,
    retry: spec.retry,
    inputFile: () => spec.inputFile,
    inputDir: (name) => inside(spec.inputDir, name),
    outputDir: (name) => inside(spec.outputDir, name),
    progress: {
      total: (n) => send({ t: "total", n: Math.trunc(Number(n)) }),
      next: (info) => {
        stepOpen = true;
        send({ t: "next", info: info === undefined ? "" : String(info), at: Date.now() });
      },
      stop: () => {
        // Closing twice would re-measure (inflate) the last step, as the original did.
        if (!stepOpen) return;
        stepOpen = false;
        send({ t: "stop", at: Date.now() });
      },
    },
    log: (...args) => console.log(...args),
  };
}
