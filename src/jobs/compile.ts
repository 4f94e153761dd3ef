// The job compiler: a script (its source, read by the caller), the user's config and the defaults
// become one validated job definition, or a typed refusal. Every way a job comes to exist goes
// through here: a submission (api/routes/submit.ts), a child a running script asks for
// (daemon/child-jobs.ts), a local run (cli/run.ts), a retry (daemon/job-retry.ts) and a job a peer
// hands over (federation/execution.ts). Pure: the caller reads files and stores rows.
import { inspectScript, ScriptError } from "../scripts/inspect.ts";
import { ConfigFieldError, mergeConfig, parseUserConfig, type WorkerConfig } from "./worker-config.ts";

/** What was refused: the script itself, the user's config, or the script's own declaration. */
export type RefusalKind = "script" | "config" | "declaration";

export class JobRefused extends Error {
  constructor(
    readonly kind: RefusalKind,
    message: string,
  ) {
    super(message);
    this.name = "JobRefused";
  }
}

export interface ScriptSource {
  /** "custom" or the name of a pre-registered process. */
  process: string;
  source: string;
  /** The file name (its extension says the language) or path, for messages. */
  fileName: string;
}

export interface JobRequest {
  script: ScriptSource;
  name: string | null;
  params: unknown;
  /** The user's config object as sent (`config` form field, or a child's options); validated here. */
  config: unknown;
  /**
   * A child job: what it inherits from its parent (its entrypoint and queue) stands where the
   * script's own declaration would; the declaration is not read.
   */
  inherit?: Partial<WorkerConfig>;
}

export interface JobDefinition {
  name: string | null;
  process: string;
  params: unknown;
  config: WorkerConfig;
  /** Ignored config keys and the like, for the client. */
  warnings: string[];
}

function parseConfig(raw: unknown, kind: RefusalKind): ReturnType<typeof parseUserConfig> {
  try {
    return parseUserConfig(raw);
  } catch (error) {
    if (!(error instanceof ConfigFieldError)) throw error;
    const message =
      kind === "declaration"
        ? `The script's schedule declaration is invalid: ${error.message.replaceAll("config.", "")}`
        : error.message;
    throw new JobRefused(kind, message);
  }
}

/** defaults < the script's declaration (or what a child inherits) < the user's config. */
export function compileJob(request: JobRequest, defaults: WorkerConfig): JobDefinition {
  const user = parseConfig(request.config, "config");
  const entrypoint = user.config.entrypoint ?? request.inherit?.entrypoint ?? defaults.entrypoint;
  const { source, fileName } = request.script;
  let declaredRaw: Record<string, unknown>;
  try {
    declaredRaw = inspectScript(source, fileName, entrypoint).declared;
  } catch (error) {
    if (error instanceof ScriptError) throw new JobRefused("script", error.message);
    throw error;
  }
  const middle = request.inherit ?? parseConfig(declaredRaw, "declaration").config;
  return {
    name: request.name,
    process: request.script.process,
    params: request.params,
    config: mergeConfig(defaults, middle, user.config),
    warnings: user.warnings,
  };
}

/** Where a defined job is placed: its files, its family, its node. */
export interface JobPlacement {
  uuid: string;
  scriptFile: string | null;
  inputFile: string | null;
  /** The input's root file (an archive's), once the input was prepared. */
  rootFile: string | null;
  waitReason: string | null;
  originNode: string;
  parentUuid?: string;
  spawnSeq?: number;
  requestedAt: number;
}

/** The job row's values for the store (JobStore.insert). */
export function jobRowValues(definition: JobDefinition, placement: JobPlacement) {
  const { config } = definition;
  return {
    ...placement,
    name: definition.name,
    process: definition.process,
    entrypoint: config.entrypoint,
    queue: config.queue,
    priority: config.priority,
    timeLimitS: config.timeLimitS,
    computeOnly: config.computeOnly,
    paramsJson: JSON.stringify(definition.params),
    configJson: JSON.stringify(config),
  };
}
