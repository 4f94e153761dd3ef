// Child jobs (the original's chains, groups and chords): a running script asks for a job on
// another entrypoint, process or queue. A child is a real job: own UUID, own folder, listed, with
// `parent` in its details. It runs the parent's script (linked, not copied) unless it names a
// process, and sees the parent's inputs (hard links: an extracted archive is not copied).
import {
  copyFileSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
} from "node:fs";
import { basename, join } from "node:path";
import { compileJob, type JobDefinition, JobRefused, jobRowValues } from "../jobs/compile.ts";
import type { WorkerConfig } from "../jobs/worker-config.ts";
import type { Logger } from "../log/logger.ts";
import type { ProcessRegistry } from "../scripts/registry.ts";
import type { ChildSpec } from "../sdk/protocol.ts";
import type { JobFolders } from "../storage/job-folders.ts";
import type { JobStore } from "../store/job-store.ts";
import type { JobRow } from "../store/schema.ts";
import type { ScriptOf } from "./job-script.ts";

/** A refusal the parent script receives as an error it can catch. */
export class ChildSpecError extends Error {}

export interface ChildJobsDeps {
  store: JobStore;
  folders: JobFolders;
  registry: ProcessRegistry;
  /** The parent's script file, for a child that runs it too. */
  scriptOf: ScriptOf;
  logger: Logger;
  nodeId: string;
  defaults: WorkerConfig;
  waitReason: (queue: string) => string | null;
  notify: () => void;
}

/** Hard link when possible (same file system, no copy), else a copy. */
export function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

/**
 * Mirrors a folder with hard links: a child sees its parent's inputs (an extracted archive
 * included) without copying them. Links inside an extracted archive were checked at upload and
 * stay relative, so they are recreated as they are.
 */
export function linkTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) linkTree(source, target);
    else if (entry.isSymbolicLink()) symlinkSync(readlinkSync(source), target);
    else if (entry.isFile()) linkOrCopy(source, target);
  }
}

export class ChildJobs {
  constructor(private readonly deps: ChildJobsDeps) {}

  /**
   * The `seq`-th child of `parent` (the existing one when a re-run parent asks again), once its
   * commit is on disk: the parent is told of it.
   */
  async spawn(parent: JobRow, seq: number, spec: ChildSpec): Promise<JobRow> {
    const existing = this.deps.store.findChild(parent.uuid, seq);
    if (existing) {
      await this.deps.store.synced();
      return existing;
    }
    const { store, folders, registry } = this.deps;

    const processName = spec.process ?? parent.process;
    let source: string;
    let scriptPath: string | null = null;
    let fileName: string;
    if (processName === "custom") {
      scriptPath = this.deps.scriptOf(parent);
      if (!scriptPath) throw new ChildSpecError("The parent's script is gone");
      source = readFileSync(scriptPath, "utf8");
      fileName = scriptPath;
    } else {
      const registered = registry.get(processName);
      if (!registered) throw new ChildSpecError(`Invalid process '${processName}'`);
      source = registry.source(registered);
      fileName = registered.path;
    }
    let definition: JobDefinition;
    try {
      definition = compileJob(
        {
          script: { process: processName, source, fileName },
          name: spec.name ?? null,
          params: spec.params ?? {},
          config: {
            entrypoint: spec.entrypoint ?? null,
            queue: spec.queue ?? null,
            time_limit: spec.timeLimit ?? null,
            priority: spec.priority ?? null,
          },
          inherit: { entrypoint: parent.entrypoint, queue: parent.queue },
        },
        this.deps.defaults,
      );
    } catch (error) {
      if (error instanceof JobRefused)
        throw new ChildSpecError(error.message.replaceAll("config.", "child "));
      throw error;
    }
    const { config } = definition;

    const stage = folders.stage();
    try {
      if (scriptPath) linkOrCopy(scriptPath, join(stage.scriptDir, basename(scriptPath)));
      if (parent.inputFile) linkTree(folders.inputsDir(parent.uuid), stage.inputsDir);
      stage.commitSync();
    } catch (error) {
      stage.discard();
      throw error;
    }
    const job = store.insert(
      jobRowValues(definition, {
        uuid: stage.uuid,
        scriptFile: scriptPath ? basename(scriptPath) : null,
        inputFile: parent.inputFile,
        rootFile: parent.rootFile,
        waitReason: this.deps.waitReason(config.queue),
        parentUuid: parent.uuid,
        spawnSeq: seq,
        originNode: this.deps.nodeId,
        requestedAt: Date.now(),
      }),
    );
    this.deps.logger.info("child job accepted", { job: job.uuid, parent: parent.uuid, queue: job.queue });
    this.deps.notify();
    await store.synced();
    return job;
  }
}
