// `pixyz-scheduler run SCRIPT`: runs a job script in the foreground, without a daemon, the way the
// daemon runs a job: the same runner (runAttempt), harness and ctx / pc, in a temporary job folder.
// Child jobs run at once, each as its own process; the command ends when every job has ended.
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  symlinkSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type Config, loadConfig } from "../config/config.ts";
import { ConfigError } from "../config/parse.ts";
import { emptyProgress, nextStep, type ProgressState, setTotal, stop } from "../jobs/progress.ts";
import { resolvePython } from "../runner/python.ts";
import { isPythonScript, type RunningChild, runAttempt } from "../runner/runner.ts";
import { prepareRuntime, type Runtime } from "../runner/runtime.ts";
import { inspectScript, isSupportedScript, SCRIPT_EXTENSIONS, ScriptError } from "../scripts/inspect.ts";
import { ProcessRegistry } from "../scripts/registry.ts";
import type { ChildMessage, ChildOutcome, ChildSpec, JobSpec } from "../sdk/protocol.ts";
import { prepareInput } from "../storage/inputs.ts";

const HELP = `Usage: pixyz-scheduler run SCRIPT [options]

Runs a job script (.ts, .mts, .js, .mjs or .py) in the foreground, without a daemon, the way the
daemon runs a job (same harness, same ctx / pc). Progress and what the script prints go to stderr
as they happen; the result is printed as JSON on stdout at the end.

Options:
  -i, --input FILE        the job's input: a file, or an archive (.zip, .tar, .tar.gz, .tgz)
                          extracted as at submission (its root file is the input file)
  -p, --params JSON       the params (default {})
  -o, --output DIR        where the outputs go (default ./output)
  -e, --entrypoint NAME   the function to run (default main)
  -q, --queue NAME        the queue the script sees (default: its declaration, else cpu)
  -l, --time-limit S      seconds before the job is killed (default PIXYZ_TIME_LIMIT, 3600)

Child jobs (ctx.spawn, pc.execute, chain / group / chord) start at once, each as its own
process, with no slot limit, and write into the same output folder. The command ends when the
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

interface LocalJob {
  id: string;
  label: string;
  script: string;
  entrypoint: string;
  queue: string;
  timeLimitS: number;
  child: RunningChild | null;
  progress: ProgressState;
  ended: boolean;
  done: Promise<ChildOutcome>;
}

/** One line on our stderr, written at once (in order with the job output copied there). */
function say(line: string): void {
  writeSync(2, `${line}\n`);
}

/**
 * The jobs write stdout/stderr to a log file (as under the daemon); this copies what they add to
 * our stderr, every 100 ms and before each line of ours, so the two stay in order.
 */
class LogTail {
  private offset = 0;
  private readonly fd: number;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(readonly path: string) {
    this.fd = openSync(path, "a+");
    this.timer = setInterval(() => this.pump(), 100);
  }

  pump(): void {
    const chunk = Buffer.alloc(64 * 1024);
    for (;;) {
      const n = readSync(this.fd, chunk, 0, chunk.length, this.offset);
      if (n <= 0) return;
      this.offset += n;
      writeSync(2, chunk.subarray(0, n));
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.pump();
    closeSync(this.fd);
  }
}

class LocalRun {
  readonly jobs = new Map<string, LocalJob>();
  private children = 0;
  private python: Promise<void> | null = null;

  constructor(
    private readonly runtime: Runtime,
    private readonly registry: ProcessRegistry,
    private readonly config: Config,
    private readonly input: Pick<JobSpec, "inputFile" | "inputArchive" | "inputDir" | "outputDir">,
    private readonly cwd: string,
    private readonly log: LogTail,
  ) {}

  private say(line: string): void {
    this.log.pump();
    say(line);
  }

  /** Resolves PYTHON_BIN the first time a .py job needs it. */
  ensurePython(): Promise<void> {
    this.python ??= resolvePython(this.config.pythonBin).then((interpreter) => {
      this.runtime.python.interpreter = interpreter;
    });
    return this.python;
  }

  start(job: Omit<LocalJob, "id" | "child" | "progress" | "ended" | "done">, params: unknown): LocalJob {
    const id = crypto.randomUUID();
    const spec: JobSpec = {
      jobId: id,
      cwd: this.cwd,
      attempt: 1,
      queue: job.queue,
      retry: 0,
      script: job.script,
      entrypoint: job.entrypoint,
      params,
      ...this.input,
    };
    const local: LocalJob = {
      ...job,
      id,
      child: null,
      progress: emptyProgress(),
      ended: false,
      done: Promise.resolve(null as never),
    };
    const started = performance.now();
    const child = runAttempt(this.runtime, {
      spec,
      cwd: this.cwd,
      logFile: this.log.path,
      timeLimitS: job.timeLimitS,
      logMaxBytes: Number.MAX_SAFE_INTEGER,
      env: { PIXYZ_LOCAL: "1" },
      onMessage: (message) => this.onMessage(local, message),
    });
    local.child = child;
    local.done = child.done.then((result) => {
      local.ended = true;
      const status =
        result.cause === "success" ? "SUCCESS" : result.cause === "revoked" ? "REVOKED" : "FAILURE";
      const seconds = ((performance.now() - started) / 1000).toFixed(2);
      const why = result.error ? `: ${result.error.trim().split("\n").pop()}` : "";
      this.say(`[${local.label}] ${status} in ${seconds} s${status === "SUCCESS" ? "" : why}`);
      return { id, status, result: result.result ?? null, error: result.error ?? null };
    });
    this.jobs.set(id, local);
    return local;
  }

  private onMessage(job: LocalJob, message: ChildMessage): void {
    const reply = (req: number, work: Promise<unknown>) =>
      work.then(
        (value) => job.child?.reply({ t: "reply", req, ok: true, value }),
        (error: Error) => job.child?.reply({ t: "reply", req, ok: false, error: error.message }),
      );
    switch (message.t) {
      case "total":
        job.progress = setTotal(job.progress, message.n);
        return;
      case "next": {
        job.progress = nextStep(job.progress, message.info, message.at);
        const { steps, total } = job.progress;
        this.say(`[${job.label}] step ${steps.length}/${total}: ${steps[steps.length - 1]!.info}`);
        return;
      }
      case "stop":
        job.progress = stop(job.progress, message.at);
        return;
      case "spawn":
        void reply(message.req, this.spawn(job, message.job));
        return;
      case "wait":
        void reply(
          message.req,
          Promise.all(
            message.ids.map(
              (id) => this.jobs.get(id)?.done ?? Promise.reject(new Error(`Job '${id}' does not exist`)),
            ),
          ),
        );
        return;
    }
  }

  private async spawn(parent: LocalJob, spec: ChildSpec): Promise<string> {
    let script = parent.script;
    if (spec.process) {
      const registered = this.registry.get(spec.process);
      if (!registered) throw new Error(`Invalid process '${spec.process}'`);
      script = registered.path;
    }
    const entrypoint = spec.entrypoint ?? parent.entrypoint;
    inspectScript(readFileSync(script, "utf8"), script, entrypoint);
    if (isPythonScript(script)) await this.ensurePython();
    this.children += 1;
    const queue = spec.queue ?? parent.queue;
    const label = `child ${this.children} ${spec.name ?? entrypoint}`;
    const child = this.start(
      { label, script, entrypoint, queue, timeLimitS: spec.timeLimit ?? this.config.defaultTimeLimitS },
      spec.params ?? {},
    );
    this.say(`[${label}] started: job ${child.id} on queue ${queue}, from ${parent.label}`);
    return child.id;
  }

  /** Waits until every job, including children started meanwhile, has ended. */
  async settled(): Promise<void> {
    for (;;) {
      const pending = [...this.jobs.values()].filter((j) => !j.ended);
      if (pending.length === 0) return;
      await Promise.all(pending.map((j) => j.done));
    }
  }

  cancelAll(): void {
    for (const job of this.jobs.values()) if (!job.ended) job.child?.kill("revoked");
  }
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
  let declared: Record<string, unknown>;
  try {
    ({ declared } = inspectScript(readFileSync(options.script, "utf8"), options.script, options.entrypoint));
  } catch (error) {
    if (error instanceof ScriptError) return usage(error.message);
    throw error;
  }

  const temp = mkdtempSync(join(tmpdir(), "pixyz-run-"));
  const interrupted = { yes: false };
  let local: LocalRun | null = null;
  let log: LogTail | null = null;
  const onSigint = () => {
    interrupted.yes = true;
    local?.cancelAll();
  };
  process.on("SIGINT", onSigint);
  try {
    const jobDir = join(temp, "job");
    const inputDir = join(jobDir, "inputs");
    mkdirSync(inputDir, { recursive: true });
    mkdirSync(options.output, { recursive: true });
    let inputFile: string | null = null;
    let inputArchive: string | null = null;
    if (options.input !== null) {
      const upload = basename(options.input);
      symlinkSync(options.input, join(inputDir, upload));
      const params = options.params as { filename?: unknown } | null;
      const prepared = await prepareInput(
        inputDir,
        {
          upload,
          rootFile: null,
          filenameParam: typeof params?.filename === "string" ? params.filename : null,
        },
        {
          maxEntries: config.archiveMaxEntries,
          maxBytes: config.archiveMaxBytes,
          maxRatio: config.archiveMaxRatio,
          minFreeDisk: config.minFreeDiskBytes,
        },
      );
      for (const warning of prepared.warnings) say(`pixyz-scheduler run: ${warning}`);
      if (prepared.isArchive) {
        inputArchive = join(inputDir, upload);
        inputFile = prepared.rootFile ? join(inputDir, prepared.rootFile) : null;
      } else inputFile = join(inputDir, upload);
    }
    const runtime = prepareRuntime(join(temp, "data"));
    const registry = new ProcessRegistry(runtime.builtinProcessDir, config.processDir);
    log = new LogTail(join(temp, "job.log"));
    local = new LocalRun(
      runtime,
      registry,
      config,
      { inputFile, inputArchive, inputDir, outputDir: options.output },
      jobDir,
      log,
    );
    if (isPythonScript(options.script)) await local.ensurePython();
    const label = `${basename(options.script)}:${options.entrypoint}`;
    const root = local.start(
      {
        label,
        script: options.script,
        entrypoint: options.entrypoint,
        queue: options.queue ?? (typeof declared.queue === "string" ? declared.queue : "cpu"),
        timeLimitS:
          options.timeLimitS ??
          (typeof declared.time_limit === "number" ? declared.time_limit : config.defaultTimeLimitS),
      },
      options.params,
    );
    const outcome = await root.done;
    await local.settled();
    log.close();
    log = null;
    if (outcome.status === "SUCCESS") console.log(JSON.stringify(outcome.result, null, 2));
    else say(outcome.error ?? outcome.status);
    if (interrupted.yes) return 130;
    return outcome.status === "SUCCESS" ? 0 : 1;
  } catch (error) {
    say(`pixyz-scheduler run: ${(error as Error).message}`);
    return 1;
  } finally {
    log?.close();
    process.off("SIGINT", onSigint);
    rmSync(temp, { recursive: true, force: true });
  }
}
