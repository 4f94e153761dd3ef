// Retry: a finished job (SUCCESS, FAILURE or REVOKED) submitted again as a new job, with the same
// script, inputs, params and config. The new job is an ordinary submission: its own uuid and
// folder, PENDING, in its queue's order. Its files are linked the way a child job's are
// (child-jobs.ts): the custom script and the whole inputs folder (an extracted archive included)
// as hard links, copied only across file systems; the outputs start empty.
//
// The config is the job's effective config as it was first compiled (the escalation of a retry
// inside the old job is not carried over: the new job starts on its own queue again), compiled
// again by jobs/compile.ts against the script as it is now: a process is run as currently
// registered, and a refusal (a process no longer registered, a script that lost its entrypoint)
// says why.
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { compileJob, type JobDefinition, jobRowValues } from "../jobs/compile.ts";
import { isTerminal } from "../jobs/states.ts";
import type { WorkerConfig } from "../jobs/worker-config.ts";
import type { Logger } from "../log/logger.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { ProcessRegistry } from "../scripts/registry.ts";
import type { JobFolders } from "../storage/job-folders.ts";
import type { JobStore } from "../store/job-store.ts";
import type { JobRow } from "../store/schema.ts";
import { linkOrCopy, linkTree } from "./child-jobs.ts";
import type { ScriptOf } from "./job-script.ts";
import type { JobService } from "./job-service.ts";

/** Why a job cannot be retried; `status` is the HTTP status the API answers with. */
export class RetryRefused extends Error {
  constructor(
    readonly status: 404 | 409 | 410,
    message: string,
  ) {
    super(message);
    this.name = "RetryRefused";
  }
}

export interface JobRetriesDeps {
  store: Pick<JobStore, "get" | "insert" | "synced">;
  folders: Pick<JobFolders, "stage" | "inputsDir" | "remove">;
  registry: Pick<ProcessRegistry, "get" | "source">;
  scriptOf: ScriptOf;
  scheduler: Pick<Scheduler, "waitReason" | "notify">;
  /** The disk checks of a submission (507 while the disk is full or under MIN_FREE_DISK). */
  jobs: Pick<JobService, "assertRoomFor">;
  defaults: WorkerConfig;
  logger: Logger;
  nodeId: string;
}

/** The stored effective config, as the `config` form field would say it. */
function userConfigOf(job: JobRow): Record<string, unknown> {
  const config = JSON.parse(job.configJson) as Partial<WorkerConfig>;
  return {
    entrypoint: config.entrypoint ?? job.entrypoint,
    queue: config.queue ?? job.queue,
    time_limit: config.timeLimitS ?? job.timeLimitS,
    priority: config.priority ?? job.priority,
    compute_only: config.computeOnly ?? job.computeOnly,
    root_file: config.rootFile ?? null,
  };
}

export class JobRetries {
  constructor(private readonly deps: JobRetriesDeps) {}

  /**
   * Submits `uuid` again; returns the new job once its commit is on disk. Throws RetryRefused, or
   * the compiler's JobRefused (400).
   */
  async retry(uuid: string): Promise<JobRow> {
    const { store, folders, registry, logger } = this.deps;
    const job = store.get(uuid);
    if (!job) throw new RetryRefused(404, `Job '${uuid}' does not exist`);
    if (!isTerminal(job.status)) {
      throw new RetryRefused(
        409,
        `Job '${uuid}' is ${job.status}: only a finished job (SUCCESS, FAILURE, REVOKED) can be retried`,
      );
    }
    if (job.filesCleanedAt !== null) {
      throw new RetryRefused(
        410,
        `The files of job '${uuid}' were removed by the cleanup on ${new Date(job.filesCleanedAt).toISOString()}: its script and inputs are gone`,
      );
    }
    this.deps.jobs.assertRoomFor(0);

    let source: string;
    let fileName: string;
    let scriptPath: string | null = null;
    if (job.process === "custom") {
      scriptPath = this.deps.scriptOf(job);
      if (!scriptPath) throw new RetryRefused(410, `The script of job '${uuid}' is gone`);
      try {
        source = readFileSync(scriptPath, "utf8");
      } catch {
        throw new RetryRefused(410, `The script of job '${uuid}' is gone`);
      }
      fileName = scriptPath;
    } else {
      const registered = registry.get(job.process);
      if (!registered) {
        throw new RetryRefused(
          409,
          `Process '${job.process}' is no longer registered; job '${uuid}' cannot run again`,
        );
      }
      source = registry.source(registered);
      fileName = registered.path;
    }
    const definition: JobDefinition = compileJob(
      {
        script: { process: job.process, source, fileName },
        name: job.name,
        params: JSON.parse(job.paramsJson) as unknown,
        config: userConfigOf(job),
      },
      this.deps.defaults,
    );

    const stage = folders.stage();
    try {
      if (scriptPath) linkOrCopy(scriptPath, join(stage.scriptDir, basename(scriptPath)));
      if (job.inputFile) linkTree(folders.inputsDir(uuid), stage.inputsDir);
      stage.commitSync();
    } catch (error) {
      stage.discard();
      throw error;
    }
    let row: JobRow;
    try {
      row = store.insert(
        jobRowValues(definition, {
          uuid: stage.uuid,
          scriptFile: job.scriptFile,
          inputFile: job.inputFile,
          rootFile: job.rootFile,
          waitReason: this.deps.scheduler.waitReason(definition.config.queue),
          originNode: this.deps.nodeId,
          requestedAt: Date.now(),
        }),
      );
    } catch (error) {
      folders.remove(stage.uuid);
      throw error;
    }
    logger.info("job retried as a new job", { job: row.uuid, from: uuid, queue: row.queue });
    this.deps.scheduler.notify();
    await store.synced();
    return row;
  }
}
