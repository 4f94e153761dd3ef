// The job engine: the scheduler and the child jobs wired over a store, job folders and slots. The
// daemon (daemon.ts) and a local run (cli/run.ts) build the same engine; only what surrounds it
// differs (HTTP, warm children and the disk guard for the daemon; an in-memory store and a
// temporary folder for a run).
import type { Config } from "../config/config.ts";
import type { EventBus } from "../events/bus.ts";
import type { WorkerConfig } from "../jobs/worker-config.ts";
import type { Logger } from "../log/logger.ts";
import type { ForkServer } from "../runner/fork-server.ts";
import { MemoryWatch } from "../runner/memory-watch.ts";
import { runAttempt } from "../runner/runner.ts";
import type { Runtime } from "../runner/runtime.ts";
import { Scheduler, type SchedulerDeps } from "../scheduler/scheduler.ts";
import type { Slot } from "../scheduler/slots.ts";
import type { ProcessRegistry } from "../scripts/registry.ts";
import type { JobFolders } from "../storage/job-folders.ts";
import type { JobStore } from "../store/job-store.ts";
import { ChildJobs } from "./child-jobs.ts";
import type { ScriptOf } from "./job-script.ts";

/** What a job gets when neither its script nor its submitter says otherwise. */
export function workerDefaults(config: Pick<Config, "defaultTimeLimitS">): WorkerConfig {
  return {
    entrypoint: "main",
    queue: "cpu",
    timeLimitS: config.defaultTimeLimitS,
    priority: 0,
    computeOnly: false,
    rootFile: null,
  };
}

export interface EngineParts {
  config: Config;
  store: JobStore;
  folders: JobFolders;
  registry: ProcessRegistry;
  scriptOf: ScriptOf;
  runtime: Runtime;
  slots: Slot[];
  nodeId: string;
  logger: Logger;
  bus: EventBus;
  warm?: SchedulerDeps["warm"];
  /** Where Python jobs are forked from (the daemon's); none: each starts its interpreter cold. */
  forkServer?: ForkServer | null;
  disk?: SchedulerDeps["disk"];
  env?: Record<string, string>;
  prefersPeer?: SchedulerDeps["prefersPeer"];
  origin?: SchedulerDeps["origin"];
}

export interface Engine {
  scheduler: Scheduler;
  childJobs: ChildJobs;
  defaults: WorkerConfig;
}

export function createEngine(parts: EngineParts): Engine {
  const { config, store, folders, registry, scriptOf, logger, nodeId } = parts;
  const defaults = workerDefaults(config);
  // The scheduler asks ChildJobs for children; ChildJobs asks the scheduler why a queue waits and
  // wakes it: the closures below are only called once both exist.
  const childJobs = new ChildJobs({
    store,
    folders,
    registry,
    scriptOf,
    logger,
    nodeId,
    defaults,
    waitReason: (queue) => scheduler.waitReason(queue),
    notify: () => scheduler.notify(),
  });
  const scheduler: Scheduler = new Scheduler({
    spawnChild: (parent, seq, spec) => childJobs.spawn(parent, seq, spec),
    warm: parts.warm ?? null,
    disk: parts.disk,
    env: parts.env,
    prefersPeer: parts.prefersPeer,
    origin: parts.origin,
    store,
    paths: folders,
    scriptOf,
    runAttempt: (request) => runAttempt(parts.runtime, request, parts.forkServer ?? null),
    now: Date.now,
    logger,
    slots: parts.slots,
    nodeId,
    memory: new MemoryWatch(),
    bus: parts.bus,
    limits: {
      memoryKb: { default: config.maxMemoryKb, byQueue: config.maxMemoryKbByQueue },
      maxRetries: config.maxRetries,
      retryTimeLimitS: config.retryTimeLimitS,
      maxLostAttempts: config.maxLostAttempts,
      logMaxBytes: config.jobLogMaxBytes,
    },
  });
  return { scheduler, childJobs, defaults };
}
