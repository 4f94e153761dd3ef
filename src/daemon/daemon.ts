// The composition root: config in, a running daemon out (store, scheduler, HTTP server).
import { mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { createApp } from "../api/app.ts";
import type { Config } from "../config/config.ts";
import { EventBus } from "../events/bus.ts";
import { Federation } from "../federation/federation.ts";
import type { Logger } from "../log/logger.ts";
import { ForkServer } from "../runner/fork-server.ts";
import { nodeMarker } from "../runner/process-tree.ts";
import { resolvePython } from "../runner/python.ts";
import { passThroughEnv } from "../runner/runner.ts";
import { prepareRuntime } from "../runner/runtime.ts";
import { WarmPool } from "../runner/warm-pool.ts";
import { type Capacity, detectCapacity } from "../scheduler/capacity.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import { buildSlots, escalationQueue, slotRules } from "../scheduler/slots.ts";
import { ProcessRegistry } from "../scripts/registry.ts";
import { DiskGuard, floorProblem } from "../storage/disk-guard.ts";
import { JobFolders } from "../storage/job-folders.ts";
import { FORM_OVERHEAD_BYTES } from "../storage/multipart.ts";
import { openDatabase } from "../store/db.ts";
import { JobQuery } from "../store/job-query.ts";
import { JobStore } from "../store/job-store.ts";
import { StatsStore } from "../store/stats-store.ts";
import { VERSION } from "../version.ts";
import { Cleanup } from "./cleanup.ts";
import { type DataFolderLock, lockDataFolder } from "./data-lock.ts";
import { createEngine } from "./engine.ts";
import { ensureNodeId, ensureToken } from "./identity.ts";
import { IdleShrink } from "./idle-shrink.ts";
import { isolateJobs, jobUserAtStart } from "./job-isolation.ts";
import { JobRetries } from "./job-retry.ts";
import { jobScriptOf } from "./job-script.ts";
import { JobService } from "./job-service.ts";
import { OutputArchives } from "./output-archives.ts";

/** How long a stopping daemon waits for outcomes of jobs it ran for peers to reach their origins. */
const FEDERATION_SETTLE_MS = 5000;

export interface Daemon {
  url: string;
  capacity: Capacity;
  port: number;
  scheduler: Scheduler;
  store: JobStore;
  bus: EventBus;
  archives: OutputArchives;
  cleanup: Cleanup;
  /** Stops accepting, lets running jobs finish within the grace period, closes the store. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts the daemon in an order that harms nothing when it cannot start: the data folder's lock
 * first (a second daemon stops here, before touching anything of the first one's), then the store
 * and the probes, then the port, and only once the port is bound the recovery sweep, the warm
 * children and the cron. A failure at any point undoes what was started and throws.
 */
export async function startDaemon(config: Config, logger: Logger): Promise<Daemon> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o750 });
  const lock = lockDataFolder(config.dataDir);
  // What a failed start has to undo, last started first.
  const undo: (() => unknown)[] = [() => lock.release()];
  try {
    return await startLocked(config, logger, lock, undo);
  } catch (error) {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch {
        // keep undoing the rest
      }
    }
    throw error;
  }
}

async function startLocked(
  config: Config,
  logger: Logger,
  lock: DataFolderLock,
  undo: (() => unknown)[],
): Promise<Daemon> {
  // JOB_USER: resolved (or refused, with a ConfigError) before anything starts; null: no job user.
  const jobUser = jobUserAtStart(config, logger);
  const db = openDatabase(join(config.dataDir, "jobs.sqlite"));
  const bus = new EventBus();
  let store: JobStore;
  try {
    store = new JobStore(db, bus);
  } catch (error) {
    db.$client.close(true);
    throw error;
  }
  undo.push(() => store.close());
  const folders = new JobFolders(config.dataDir, jobUser !== null);
  const disk = new DiskGuard(config.dataDir, config.minFreeDiskBytes);
  const recovered = folders.recoverStaging((uuid) => store.get(uuid) !== undefined);
  if (recovered.length > 0) logger.warn("job folders moved into place at start", { jobs: recovered });
  const python = resolvePython(config.pythonBin); // awaited with the capacity probe below
  const runtime = prepareRuntime(config.dataDir);
  const registry = new ProcessRegistry(runtime.builtinProcessDir, config.processDir);
  const nodeId = ensureNodeId(config.dataDir);
  const token = ensureToken(config.dataDir, config.godPasswordSha256);
  if (jobUser) isolateJobs(config, folders, runtime, jobUser); // after the token and the db exist
  const [capacity, interpreter] = await Promise.all([
    detectCapacity({ nvidiaSmi: config.nvidiaSmi }),
    python,
  ]);
  runtime.python.interpreter = interpreter;
  if (interpreter.error) logger.warn("Python scripts cannot run", { error: interpreter.error });
  for (const note of capacity.notes) logger.warn("capacity probe", { note });
  const slots = buildSlots(capacity, slotRules(config));
  // Every process the daemon starts carries its node id, so a restart can tell its own orphans.
  const warm = config.warmChildren
    ? new WarmPool(
        runtime,
        { ...passThroughEnv(), ...nodeMarker(nodeId) },
        config.warmIdleS * 1000,
        config.jobsPerChild,
      )
    : null;
  // Python jobs forked from one warm interpreter, on the same terms as the warm children (never
  // for JOB_USER or JOB_SANDBOX jobs, which start through setpriv/bwrap); stopped last.
  const forkServer =
    config.warmChildren && !jobUser && !runtime.sandbox
      ? new ForkServer(
          runtime,
          { ...passThroughEnv(), ...nodeMarker(nodeId) },
          config.warmIdleS * 1000,
          logger,
        )
      : null;
  undo.push(() => forkServer?.close());
  const { scheduler, defaults, childJobs } = createEngine({
    config,
    store,
    folders,
    registry,
    scriptOf: jobScriptOf(folders, registry),
    runtime,
    slots,
    nodeId,
    logger,
    bus,
    warm,
    forkServer,
    disk,
    // With peers, a job that would run here only on a stand-in slot (no GPU) goes to a free peer first.
    prefersPeer: (queue) => federation?.delegator.prefersPeer(queue) ?? false,
    // A job a peer delegated here has its children at its origin (only such jobs call these).
    origin: config.federation.peerSecret
      ? {
          spawn: (job, seq, spec) => federation!.executions.spawn(job.uuid, seq, spec),
          wait: (job, ids, timeoutMs) => federation!.executions.wait(job.uuid, ids, timeoutMs),
        }
      : undefined,
  });
  const jobs = new JobService(
    store,
    folders,
    scheduler,
    logger,
    nodeId,
    {
      maxUploadBytes: config.maxUploadBytes,
      minFreeDiskBytes: config.minFreeDiskBytes,
      idleTimeoutMs: config.uploadIdleTimeoutS * 1000,
      archive: {
        maxEntries: config.archiveMaxEntries,
        maxBytes: config.archiveMaxBytes,
        maxRatio: config.archiveMaxRatio,
        minFreeDisk: config.minFreeDiskBytes,
      },
    },
    () => disk.state().full,
  );
  const federation = config.federation.peerSecret
    ? new Federation(
        {
          nodeId,
          nodeName: config.federation.nodeName,
          url: config.federation.advertiseUrl ?? "",
          secret: config.federation.peerSecret,
          peers: config.federation.peers,
          advertIntervalMs: config.federation.advertIntervalS * 1000,
          version: VERSION,
          discovery: config.federation.discovery,
        },
        {
          store,
          folders,
          jobs,
          scheduler,
          leaseTtlMs: config.federation.leaseTtlS * 1000,
          spillDelayMs: config.federation.spillDelayS * 1000,
          spawnChild: (parent, seq, spec) => childJobs.spawn(parent, seq, spec),
          registry,
          defaults,
          limits: {
            maxRetries: config.maxRetries,
            retryTimeLimitS: config.retryTimeLimitS,
            escalateTo: () => escalationQueue(slots),
          },
        },
        capacity.gpus,
        bus,
        logger,
      )
    : null;
  const archives = new OutputArchives(folders, logger);
  const stats = new StatsStore(db);
  const cleanup = new Cleanup(
    {
      enabled: config.cleanupEnabled,
      delayS: config.cleanupDelayS,
      cron: config.cleanupCron,
      retentionS: config.jobRetentionS,
    },
    store,
    folders,
    logger,
    (uuid) => archives.isBuilding(uuid),
  );
  // Ends the API's live streams (/events, log follow) at stop: the server waits for open requests.
  const stopping = new AbortController();
  const app = createApp({
    stopping: stopping.signal,
    version: VERSION,
    tokenSha256: token.sha256,
    store,
    folders,
    registry,
    jobs,
    scheduler,
    archives,
    capacity,
    disk: () => disk.state(),
    jobCounts: () => stats.countsByQueueAndStatus(),
    jobQuery: new JobQuery(db),
    retries: new JobRetries({
      store,
      folders,
      registry,
      scriptOf: jobScriptOf(folders, registry),
      scheduler,
      jobs,
      defaults,
      logger,
      nodeId,
    }),
    federation: federation ?? undefined,
    bus,
    logger,
    defaults,
    corsOrigins: config.corsOrigins,
  });

  // Memory back to the system once no job runs and nothing happened for a few seconds.
  const idle = new IdleShrink({
    running: () => scheduler.runningCount,
    // SQLite's page cache (up to 2 MiB a connection) fills during a load and stays; the next
    // queries read their pages back from the OS's file cache.
    release: () => db.$client.exec("PRAGMA shrink_memory"),
    onShrink: (ms, rss) =>
      logger.debug("idle: memory shrunk", { ms: Math.round(ms), rssMiB: Math.round(rss / 2 ** 20) }),
  });
  bus.subscribe(() => idle.touch());

  // Bound before anything runs: a busy port ends the start here, with no job swept or started.
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: config.host,
      port: config.port,
      fetch: (request, bunServer) => {
        idle.touch();
        return app.fetch(request, bunServer);
      },
      // POST /jobs answers 413 itself, with the limit in its message, at MAX_UPLOAD_SIZE plus the
      // form's overhead; Bun's own cap only stops what gets past that.
      maxRequestBodySize: config.maxUploadBytes + 2 * FORM_OVERHEAD_BYTES,
      // Large uploads on a slow LAN take a while; Bun's default idle timeout (10 s) would cut them.
      idleTimeout: 255,
      tls: config.tls
        ? { cert: Bun.file(config.tls.certFile), key: Bun.file(config.tls.keyFile) }
        : undefined,
    });
  } catch (error) {
    throw new Error(
      `cannot listen on ${config.host}:${config.port} (${(error as Error).message}): is another program using the port? Set API_PORT or --port`,
    );
  }
  undo.push(() => server.stop(true));
  const scheme = config.tls ? "https" : "http";
  // Same tick as the bind: no request can reach the scheduler before its recovery sweep ran.
  undo.push(() => scheduler.shutdown(0));
  undo.push(() => disk.stop());
  disk.start();
  const diskProblem = floorProblem(disk.state());
  if (diskProblem) logger.warn(diskProblem, { fix: "free space, or lower MIN_FREE_DISK" });
  scheduler.start();
  undo.push(() => cleanup.stop());
  cleanup.start();
  undo.push(() => idle.stop());
  idle.start();
  if (config.federation.discovery === "mdns" && !federation) {
    logger.warn("DISCOVERY=mdns does nothing without PEER_SECRET: federation is off");
  }
  if (federation) {
    undo.push(() => federation.stop());
    const host = config.host === "0.0.0.0" || config.host === "::" ? hostname() : config.host;
    federation.start(config.federation.advertiseUrl ?? `${scheme}://${host}:${server.port}`);
  }
  // Where clients on this machine reach it; the log names the address really bound.
  const url = `${scheme}://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${server.port}`;
  logger.info("pixyz-scheduler listening", {
    address: `${server.hostname}:${server.port}`,
    url,
    version: VERSION,
    dataDir: config.dataDir,
    slots: slots.map((s) => (s.gpu ? `${s.id}@gpu${s.gpu.index}` : s.id)).join(","),
    cores: capacity.cores,
    memoryMb: capacity.memoryMb,
    gpus: capacity.gpus.map((g) => `${g.index}:${g.name}:${g.vramMb}MB`).join(",") || "none",
    node: nodeId,
  });
  if (token.tokenFile) {
    const what = token.created ? "API token generated for this data folder" : "API token of this data folder";
    logger.info(`${what} (send it as x-api-key)`, { tokenFile: token.tokenFile });
  }

  let stopped = false;
  return {
    url,
    capacity,
    port: server.port!,
    scheduler,
    store,
    bus,
    archives,
    cleanup,
    async stop(graceMs = config.shutdownGraceS * 1000) {
      if (stopped) return;
      stopped = true;
      logger.info("stopping: no new jobs start; waiting for running jobs", {
        running: scheduler.runningCount,
        graceMs,
      });
      stopping.abort();
      idle.stop();
      await federation?.drain();
      await server.stop();
      await cleanup.stop();
      disk.stop();
      // Federation stays up while the running jobs get their grace: a job run here for a peer
      // that ends meanwhile reports home (else its origin waits out the lease and runs it again).
      await scheduler.shutdown(graceMs);
      await federation?.executions.settle(FEDERATION_SETTLE_MS);
      federation?.stop();
      forkServer?.close();
      await archives.idle();
      store.close();
      lock.release();
      logger.info("stopped");
    },
  };
}
