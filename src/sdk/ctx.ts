// Builds the `ctx` object a script receives, on top of the channel to the daemon.
//
// node:fs and node:path are loaded by the helpers that use them, not at import: loading them costs
// about 4 ms of CPU in every job child, more than half of what a no-op job costs on top of the
// runtime's own start. A script that uses files pays it once, as it would anyway.
import type { Channel } from "./channel.ts";
import { findFile } from "./find-file.ts";
import type { ChildOutcome, JobSpec } from "./protocol.ts";
import type { ChildJob, Ctx } from "./types.ts";

/** Thrown by ChildJob.result() when the child ended FAILURE or REVOKED; the parent may catch it. */
export class ChildJobError extends Error {
  override name = "ChildJobError";
  constructor(readonly outcome: ChildOutcome) {
    super(
      `child job ${outcome.id} ended ${outcome.status}${outcome.error ? `: ${outcome.error.split("\n")[0]}` : ""}`,
    );
  }
}

const nodeFs = () => process.getBuiltinModule("node:fs");
const nodePath = () => process.getBuiltinModule("node:path");

/** `name` inside `dir`, refusing any name that would leave it; parent folders are created. */
function inside(dir: string, name?: string): string {
  if (name === undefined) return dir;
  const { dirname, resolve, sep } = nodePath();
  const path = resolve(dir, name);
  if (!path.startsWith(dir + sep)) throw new Error(`'${name}' is not a path inside ${dir}`);
  nodeFs().mkdirSync(dirname(path), { recursive: true });
  return path;
}

/** Every regular file under `dir`, as sorted relative paths. */
function filesUnder(dir: string): string[] {
  const found: string[] = [];
  const { join, relative } = nodePath();
  const walk = (at: string) => {
    for (const entry of nodeFs().readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) found.push(relative(dir, path));
    }
  };
  walk(dir);
  return found.sort();
}

/**
 * ctx.inputFile: with no name, the job's input (the upload, or the root file of an uploaded
 * archive); with a name, that file among the inputs, whether it was uploaded alone or inside an
 * archive: its path relative to the inputs folder, or a base name found once.
 */
function inputFileOf(spec: JobSpec, name?: string): string | null {
  if (name === undefined || name === null) {
    if (spec.inputFile === null && spec.inputArchive !== null) {
      throw new Error(
        `The archive '${nodePath().basename(spec.inputArchive)}' has no root file: it holds no file with a known 3D extension. ` +
          "Submit with config.root_file (or params.filename) naming the file to open, or call ctx.inputFile(name).",
      );
    }
    return spec.inputFile;
  }
  const found = findFile(filesUnder(spec.inputDir), String(name));
  if ("path" in found) return nodePath().join(spec.inputDir, found.path);
  throw new Error(
    found.error === "ambiguous"
      ? `'${name}' matches several input files (${found.candidates.join(", ")}): give its path inside the inputs`
      : `'${name}' is not among the job's input files`,
  );
}

export function createCtx(spec: JobSpec, channel: Channel, signal: AbortSignal): Ctx {
  const send = channel.send.bind(channel);
  let stepOpen = false;
  const wait = async (ids: string[]) => (await channel.request({ t: "wait", ids })) as ChildOutcome[];
  const child = (id: string): ChildJob => ({
    id,
    async result() {
      const [outcome] = await wait([id]);
      if (outcome!.status !== "SUCCESS") throw new ChildJobError(outcome!);
      return outcome!.result;
    },
  });
  return {
    signal,
    spawn: async (options) => child((await channel.request({ t: "spawn", job: options })) as string),
    wait: (children) => wait(children.map((c) => c.id)),
    params: spec.params,
    jobId: spec.jobId,
    queue: spec.queue,
    retry: spec.retry,
    computeOnly: spec.computeOnly ?? false,
    inputFile: (name) => inputFileOf(spec, name),
    inputArchive: () => spec.inputArchive,
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
