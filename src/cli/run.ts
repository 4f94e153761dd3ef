// `pixyz-scheduler run SCRIPT`: runs a job script in the foreground, without a daemon, on the
// daemon's own engine (daemon/engine.ts: the scheduler, child jobs, the policy) over an in-memory
// store and a temporary folder. Retries, escalation, parking and chain / group / chord behave as
// under the daemon; only the outputs (one folder, -o) and the log (one, on stderr) are shared.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type Config, loadConfig } from "../config/config.ts";
import { ConfigError } from "../config/parse.ts";
import { createEngine, workerDefaults } from "../daemon/engine.ts";
import { JobService } from "../daemon/job-service.ts";
import { EventBus } from "../events/bus.ts";
import { compileJob, type JobDefinition, JobRefused } from "../jobs/compile.ts";
import { isTerminal, JobStatus } from "../jobs/states.ts";
import { createLogger } from "../log/logger.ts";
import { resolvePython } from "../runner/python.ts";
import { prepareRuntime } from "../runner/runtime.ts";
import type { Slot } from "../scheduler/slots.ts";
import { isSupportedScript, SCRIPT_EXTENSIONS } from "../scripts/inspect.ts";
import { ProcessRegistry } from "../scripts/registry.ts";
import { JobFolders } from "../storage/job-folders.ts";
import { openDatabase } from "../store/db.ts";
import { JobStore } from "../store/job-store.ts";
import { LogTail, RunReport, rootLabel, say } from "./run-report.ts";

const HELP = `Usage: pixyz-scheduler run SCRIPT [options]

Runs a job script (.ts, .mts, .js, .mjs or .py) in the foreground, without a daemon, the way the
daemon runs a job (same engine: harness, ctx / pc, retries and escalation, child jobs). Progress
and what the script prints go to stderr as they happen; the result is printed as JSON on stdout
at the end.

Options:
  -i, --input FILE        the job's input: a file, or an archive (.zip, .tar, .tar.gz, .tgz)
                          extracted as at submission (its root file is the input file)
  -p, --params JSON       the params (default {})
  -o, --output DIR        where the outputs go (default ./output)
  -e, --entrypoint NAME   the function to run (default main)
  -q, --queue NAME        the queue the script sees (default: its declaration, else cpu)
  -l, --time-limit S      seconds before the job is killed (default PIXYZ_TIME_LIMIT, 3600)

Child jobs (ctx.spawn, pc.execute, chain / group / chord) run as under the daemon, each as its
own process, on local slots that serve the cpu, gpu, gpuhigh and control queues (and the script's
own), at least 4 at once (more on a machine with more cores); a parent waiting on its children
lends them its slot. Every job writes into the same output folder. The command ends when the
script and every child job it started have ended. PYTHON_BIN picks the Python (default python3);
PROCESS_DIR adds processes a script may start as children.

Exit code: 0 when the script succeeded, 1 when it failed, 2 for a usage error, 130 on Ctrl-C.`;

interface Options {
  script: string;
  input: string | null;
  params: unknown;
  output: string;
  entrypoint: string;
  queue: string | null;
  timeLimitS: number | null;
}

function parse(argv: string[]): Options | string {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        input: { type: "string", short: "i" },
        params: { type: "string", short: "p" },
        output: { type: "string", short: "o" },
        entrypoint: { type: "string", short: "e" },
        queue: { type: "string", short: "q" },
        "time-limit": { type: "string", short: "l" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: true,
    }));
  } catch (error) {
    return (error as Error).message;
  }
  if (values.help) return "help";
  if (positionals.length !== 1) return "give one SCRIPT to run";
  let params: unknown = {};
  if (typeof values.params === "string") {
    try {
      params = JSON.parse(values.params);
    } catch (error) {
      return `Invalid JSON string for 'params': ${(error as Error).message}`;
    }
  }
  let timeLimitS: number | null = null;
  if (typeof values["time-limit"] === "string") {
    timeLimitS = Number(values["time-limit"]);
    if (!Number.isFinite(timeLimitS) || timeLimitS <= 0)
      return "--time-limit must be a number of seconds > 0";
  }
  return {
    script: resolve(positionals[0]!),
    input: typeof values.input === "string" ? resolve(values.input) : null,
    params,
    output: resolve(typeof values.output === "string" ? values.output : "output"),
    entrypoint: typeof values.entrypoint === "string" ? values.entrypoint : "main",
    queue: typeof values.queue === "string" ? values.queue : null,
    timeLimitS,
  };
}

/** The queues a local run serves (besides the script's own): every queue of the original. */
const LOCAL_QUEUES = ["cpu", "gpu", "gpuhigh", "control", "zip", "clean"];

/** Enough slots for a run: each serves every local queue, so no job waits for a kind of slot. */
function localSlots(rootQueue: string): Slot[] {
  const queues = [...new Set([...LOCAL_QUEUES, rootQueue])];
  const count = Math.max(4, availableParallelism());
  return Array.from({ length: count }, (_, i) => ({
    id: `local-${i}`,
    queue: "cpu",
    serves: queues,
    gpu: null,
    kind: "compute" as const,
    fallback: {},
  }));
}

/**
 * Job folders for a run: each job has its own (its cwd and inputs), but every job's outputs go to
 * the one output folder and every job's output to the one log that is shown on stderr.
 */
class RunFolders extends JobFolders {
  constructor(
    dataDir: string,
    private readonly output: string,
    private readonly log: string,
  ) {
    super(dataDir);
  }
  override outputsDir(): string {
    return this.output;
  }
  override logFile(): string {
    return this.log;
  }
  /** The user's own folder, written as any command-line tool writes its files: no fsyncs. */
  override async syncOutputs(): Promise<void> {}
}

export async function run(argv: string[]): Promise<number> {
  const options = parse(argv);
  if (options === "help") {
    console.log(HELP);
    return 0;
  }
  if (typeof options === "string") {
    console.error(`pixyz-scheduler run: ${options}. Run 'pixyz-scheduler run --help'.`);
    return 2;
  }
  let config: Config;
  try {
    config = loadConfig({ env: process.env });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`pixyz-scheduler run: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const usage = (message: string) => {
    console.error(`pixyz-scheduler run: ${message}`);
    return 2;
  };
  if (!existsSync(options.script)) return usage(`no such script: ${options.script}`);
  if (!isSupportedScript(options.script)) {
    return usage(
      `unsupported script '${basename(options.script)}': give a ${SCRIPT_EXTENSIONS.join(", ")} file`,
    );
  }
  if (options.input !== null && !existsSync(options.input)) return usage(`no such input: ${options.input}`);
  const defaults = workerDefaults(config);
  let definition: JobDefinition;
  try {
    definition = compileJob(
      {
        script: { process: "custom", source: readFileSync(options.script, "utf8"), fileName: options.script },
        name: null,
        params: options.params,
        config: { entrypoint: options.entrypoint, queue: options.queue, time_limit: options.timeLimitS },
      },
      defaults,
    );
  } catch (error) {
    if (error instanceof JobRefused) return usage(error.message);
    throw error;
  }
  for (const warning of definition.warnings) say(`pixyz-scheduler run: ${warning}`);

  const temp = mkdtempSync(join(tmpdir(), "pixyz-run-"));
  const logFile = join(temp, "run.log");
  const log = new LogTail(logFile);
  const db = openDatabase(":memory:");
  const bus = new EventBus();
  const store = new JobStore(db, bus);
  let interrupted = false;
  let rootUuid: string | null = null;
  let onSigint = () => {
    interrupted = true;
  };
  const sigint = () => onSigint();
  process.on("SIGINT", sigint);
  let report: RunReport | null = null;
  let stopEngine = async () => {};
  try {
    mkdirSync(options.output, { recursive: true });
    const runtime = prepareRuntime(join(temp, "data"));
    runtime.python.interpreter = await resolvePython(config.pythonBin);
    const registry = new ProcessRegistry(runtime.builtinProcessDir, config.processDir);
    const folders = new RunFolders(temp, options.output, logFile);
    const slots = localSlots(definition.config.queue);
    const { scheduler } = createEngine({
      config,
      store,
      folders,
      registry,
      // Custom jobs run the script where it is, so its own imports resolve next to it.
      scriptOf: (job) =>
        job.process === "custom" ? options.script : (registry.get(job.process)?.path ?? null),
      runtime,
      slots,
      nodeId: crypto.randomUUID(),
      logger: createLogger("error"),
      bus,
      env: { PIXYZ_LOCAL: "1" },
    });
    stopEngine = () => scheduler.shutdown(0);
    const served = new Set(slots.flatMap((s) => s.serves));
    report = new RunReport(
      store,
      bus,
      log,
      rootLabel(options.script, definition.config.entrypoint),
      (uuid, queue) => {
        if (served.has(queue)) return false;
        queueMicrotask(() => scheduler.revoke(uuid));
        return true;
      },
    );
    onSigint = () => {
      interrupted = true;
      if (rootUuid) scheduler.revoke(rootUuid);
    };
    scheduler.start();

    const jobs = new JobService(store, folders, scheduler, createLogger("error"), "local", {
      maxUploadBytes: Number.MAX_SAFE_INTEGER,
      minFreeDiskBytes: 0,
      idleTimeoutMs: 0,
      archive: {
        maxEntries: config.archiveMaxEntries,
        maxBytes: config.archiveMaxBytes,
        maxRatio: config.archiveMaxRatio,
        minFreeDisk: config.minFreeDiskBytes,
      },
    });
    const stage = folders.stage();
    let inputFile: string | null = null;
    if (options.input !== null) {
      inputFile = basename(options.input);
      symlinkSync(options.input, join(stage.inputsDir, inputFile));
    }
    const settled = allEnded(store, bus);
    const submitted = await jobs.submit(stage, {
      definition,
      scriptFile: basename(options.script),
      inputFile,
    });
    for (const warning of submitted.warnings) say(`pixyz-scheduler run: ${warning}`);
    rootUuid = submitted.job.uuid;
    if (interrupted) scheduler.revoke(rootUuid);
    await settled;
    const root = store.get(rootUuid)!;
    report.close();
    log.close();
    if (root.status === JobStatus.SUCCESS)
      console.log(JSON.stringify(JSON.parse(root.resultJson ?? "null"), null, 2));
    else say(root.error ?? root.status);
    if (interrupted) return 130;
    return root.status === JobStatus.SUCCESS ? 0 : 1;
  } catch (error) {
    say(`pixyz-scheduler run: ${(error as Error).message}`);
    return 1;
  } finally {
    report?.close();
    await stopEngine();
    log.close();
    db.$client.close(true);
    process.off("SIGINT", sigint);
    rmSync(temp, { recursive: true, force: true });
  }
}

/** Resolves once every job of the run (children included, however many come) has ended. */
function allEnded(store: JobStore, bus: EventBus): Promise<void> {
  return new Promise((resolve) => {
    const unsubscribe = bus.subscribe((event) => {
      if (event.type !== "status" || !isTerminal(event.to)) return;
      const open = store.queueStats().some((q) => q.waiting > 0 || q.running > 0);
      if (open) return;
      unsubscribe();
      resolve();
    });
  });
}
