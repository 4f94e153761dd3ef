// The composition root: config in, a running daemon out (store, scheduler, HTTP server).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createApp } from "../api/app.ts";
import type { Config } from "../config/config.ts";
import type { Logger } from "../log/logger.ts";
import { prepareRuntime } from "../runner/runtime.ts";
import { Scheduler } from "../scheduler/scheduler.ts";
import { buildSlots } from "../scheduler/slots.ts";
import { ProcessRegistry } from "../scripts/registry.ts";
import { JobFolders } from "../storage/job-folders.ts";
import { openDatabase } from "../store/db.ts";
import { JobStore } from "../store/job-store.ts";
import { VERSION } from "../version.ts";
import { ensureNodeId, ensureToken } from "./identity.ts";
import { JobService } from "./job-service.ts";

export interface Daemon {
  url: string;
  port: number;
  scheduler: Scheduler;
  store: JobStore;
  /** Stops accepting, lets running jobs finish within the grace period, closes the store. */
  stop(graceMs?: number): Promise<void>;
}

export async function startDaemon(config: Config, logger: Logger): Promise<Daemon> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o750 });
  const db = openDatabase(join(config.dataDir, "jobs.sqlite"));
  const store = new JobStore(db);
  const folders = new JobFolders(config.dataDir);
  folders.clearStaging();
  const runtime = prepareRuntime(config.dataDir);
  const registry = new ProcessRegistry(runtime.builtinProcessDir, config.processDir);
  const nodeId = ensureNodeId(config.dataDir);
  const token = ensureToken(config.dataDir, config.godPasswordSha256);
  const slots = buildSlots(config.slots);
  const scheduler = new Scheduler({ store, folders, registry, runtime, logger, slots, nodeId });
  const jobs = new JobService(store, folders, scheduler, logger, nodeId);
  const app = createApp({
    version: VERSION,
    tokenSha256: token.sha256,
    store,
    folders,
    registry,
    jobs,
    scheduler,
    logger,
    defaults: {
      entrypoint: "main",
      queue: "cpu",
      timeLimitS: config.defaultTimeLimitS,
      priority: 0,
      computeOnly: false,
      rootFile: null,
    },
  });

  scheduler.start();
  const server = Bun.serve({
    hostname: config.host,
    port: config.port,
    fetch: app.fetch,
    maxRequestBodySize: config.maxUploadBytes,
    // Large uploads on a slow LAN take a while; Bun's default idle timeout (10 s) would cut them.
    idleTimeout: 255,
  });
  const url = `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${server.port}`;
  logger.info("pixyz-scheduler listening", {
    url,
    version: VERSION,
    dataDir: config.dataDir,
    slots: slots.map((s) => s.id).join(","),
    node: nodeId,
  });
  if (token.tokenFile)
    logger.info("API token generated for this data folder (send it as x-api-key)", {
      tokenFile: token.tokenFile,
    });

  let stopped = false;
  return {
    url,
    port: server.port!,
    scheduler,
    store,
    async stop(graceMs = config.shutdownGraceS * 1000) {
      if (stopped) return;
      stopped = true;
      logger.info("stopping: no new jobs start; waiting for running jobs", {
        running: scheduler.runningCount,
        graceMs,
      });
      await server.stop();
      await scheduler.shutdown(graceMs);
      db.$client.close();
      logger.info("stopped");
    },
  };
}
