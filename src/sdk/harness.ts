// The child side of a job: reads its JobSpec from stdin, loads the user script, calls the
// entrypoint with (ctx, params) and reports progress, result or error on fd 3, then exits.
// Bundled on its own (scripts/gen-embedded.ts) and kept tiny: every import here is paid per job.
//
// With JOBS_PER_CHILD > 1 (an opt-in) a spec may say `release`: after that job the harness stays
// for the next spec instead of exiting. It then forgets the job's script module (the next job
// loads it afresh), puts back its folder, variables and SIGTERM handler, and ends the job's
// stdout and stderr with the spec's mark, so the daemon knows all of its output is in its log.
import { Channel } from "./channel.ts";
import { createCtx } from "./ctx.ts";
import type { JobSpec } from "./protocol.ts";

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

/**
 * The script's file URL, as node:url's pathToFileURL writes it for an absolute POSIX path (each
 * segment percent-encoded): loading node:url would cost about 3 ms of CPU in every job child.
 */
function fileUrl(path: string): string {
  const absolute = path.startsWith("/") ? path : `${process.cwd()}/${path}`;
  return `file://${absolute.split("/").map(encodeURIComponent).join("/")}`;
}

/**
 * The script's module. require() first: in Bun it loads an ES module synchronously, and a no-op job
 * child spent about 2 ms more CPU in import()'s asynchronous loader. A script with a top-level
 * await that really waits cannot be required: Bun then says so (its evaluation has begun and goes
 * on), and import() takes over the same evaluation, so the script's top level still runs once.
 */
async function loadScript(path: string): Promise<Record<string, unknown>> {
  try {
    return require(path) as Record<string, unknown>;
  } catch (error) {
    if (!(error instanceof TypeError && error.message.startsWith("require() async module"))) throw error;
    return (await import(fileUrl(path))) as Record<string, unknown>;
  }
}

async function run(channel: Channel, spec: JobSpec): Promise<number> {
  const send = channel.send.bind(channel);
  // A warm child was started before it had a job: it takes the job's place and names now.
  process.chdir(spec.cwd);
  process.env.PIXYZ_JOB_ID = spec.jobId;
  process.env.PIXYZ_QUEUE = spec.queue;
  // The daemon sends SIGTERM on cancel or time limit, then SIGKILL after a grace period: the
  // signal lets a script stop cleanly (and the handler keeps SIGTERM from killing it at once).
  const abort = new AbortController();
  const onTerm = () => abort.abort(new Error("the job was cancelled or reached its time limit"));
  process.on("SIGTERM", onTerm);
  const ctx = createCtx(spec, channel, abort.signal);
  try {
    const module = await loadScript(spec.script);
    const entry = module[spec.entrypoint];
    if (typeof entry !== "function") {
      throw new Error(`The script does not export a function named '${spec.entrypoint}'`);
    }
    const value = await entry(ctx, spec.params);
    ctx.progress.stop();
    // Undefined becomes null, as the original's None; a value JSON cannot carry is the script's error.
    let json: string | undefined;
    try {
      json = JSON.stringify(value ?? null);
      // A function or a symbol has no JSON form at all: stringify gives undefined.
      if (json === undefined) throw new TypeError(`a ${typeof value} is not a JSON value`);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const message = `The value returned by ${spec.entrypoint} cannot be stored as JSON: ${reason}`;
      send({ t: "error", name: "ResultError", message, stack: `ResultError: ${message}` });
      return 1;
    }
    send({ t: "result", value: JSON.parse(json) });
    return 0;
  } catch (error) {
    send({ t: "error", ...describe(error) });
    return 1;
  } finally {
    process.off("SIGTERM", onTerm);
  }
}

/** Writes `mark` after everything the job wrote on stdout and stderr (both are queues in Bun). */
function endOutput(mark: string): Promise<unknown> {
  const end = (stream: NodeJS.WriteStream) =>
    new Promise<void>((resolve) => stream.write(mark, () => resolve()));
  return Promise.all([end(process.stdout), end(process.stderr)]);
}

const channel = new Channel();
// Signal 0's process group is our own (the daemon starts each harness as a group leader): the
// script and everything it started go with the harness when the daemon is gone.
channel.listen(() => process.kill(0, "SIGKILL"));
const home = process.cwd();
const homeEnv = { ...process.env };
/** The harness's variables as it started: what one job set or removed never reaches the next. */
function restoreEnv(): void {
  for (const key of Object.keys(process.env)) if (!(key in homeEnv)) delete process.env[key];
  Object.assign(process.env, homeEnv);
}

/**
 * A warm child's first job pays for every function on a job's path running for the first time
 * (JavaScriptCore compiles a function at its first call; the first require() starts the
 * transpiler): from the spec's arrival to the result, 1.9 ms for a no-op job, of which 0.46 ms
 * before run()'s first line. A harness with no spec REHEARSAL_WAIT_MS after it started is idle
 * (the daemon writes the spec at once when a job waits), so it runs a no-op job of its own first:
 * the same run() on the runtime's rehearsal.ts (runtime.ts), on a muted channel, then puts its
 * folder and variables back. The next job's spec-to-result then took about 1.1 ms.
 */
const REHEARSAL_WAIT_MS = 20;

async function rehearse(): Promise<void> {
  const script = `${Bun.main.slice(0, Bun.main.lastIndexOf("/"))}/rehearsal.ts`;
  const spec: JobSpec = {
    jobId: "rehearsal",
    cwd: home,
    attempt: 0,
    queue: "",
    retry: 0,
    script,
    entrypoint: "main",
    params: {},
    inputFile: null,
    inputArchive: null,
    inputDir: home,
    outputDir: home,
  };
  try {
    await run(new Channel(true), spec);
  } finally {
    delete require.cache[script];
    process.chdir(home);
    restoreEnv();
  }
}

const firstSpec = channel.nextSpec();
if ((await Promise.race([firstSpec, Bun.sleep(REHEARSAL_WAIT_MS).then(() => null)])) === null) {
  // A rehearsal that fails (its file missing) changes nothing for the job that follows.
  await rehearse().catch(() => {});
}
for (let jobs = 0; ; jobs++) {
  const spec = await (jobs === 0 ? firstSpec : channel.nextSpec());
  const code = await run(channel, spec);
  await channel.close();
  if (spec.release === undefined) process.exit(code);
  // The next job gets the script's module afresh: its top-level state and a changed file alike.
  delete require.cache[spec.script];
  process.chdir(home);
  restoreEnv();
  await endOutput(spec.release);
}
