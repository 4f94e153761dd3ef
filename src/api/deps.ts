// What the HTTP layer needs from the rest of the daemon, and nothing more: the methods the routes
// call, named here (the API owns this interface; the daemon's classes satisfy it).
import type { JobRetries } from "../daemon/job-retry.ts";
import type { JobService } from "../daemon/job-service.ts";
import type { OutputArchives } from "../daemon/output-archives.ts";
import type { EventBus } from "../events/bus.ts";
import type { Federation } from "../federation/federation.ts";
import type { WorkerConfig } from "../jobs/worker-config.ts";
import type { Logger } from "../log/logger.ts";
import type { Capacity } from "../scheduler/capacity.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { ProcessRegistry } from "../scripts/registry.ts";
import type { DiskState } from "../storage/disk-guard.ts";
import type { JobFolders } from "../storage/job-folders.ts";
import type { JobQuery } from "../store/job-query.ts";
import type { JobStore } from "../store/job-store.ts";
import type { QueueStatusCount } from "../store/stats-store.ts";

export interface ApiDeps {
  version: string;
  /** Lowercase hex SHA-256 of the API token. */
  tokenSha256: string;
  store: Pick<JobStore, "get" | "list" | "attemptsOf" | "childrenOf">;
  folders: Pick<JobFolders, "listOutputs" | "logFile" | "outputsDir">;
  registry: Pick<ProcessRegistry, "get" | "names" | "source">;
  jobs: Pick<JobService, "assertRoomFor" | "limits" | "openStage" | "submit">;
  scheduler: Pick<Scheduler, "cancel" | "hasLiveAttempt" | "queues" | "runningCount" | "runningOn" | "slots">;
  archives: Pick<OutputArchives, "fetch">;
  /** The dashboard's jobs list: filters, pages, counts per status (store/job-query.ts). */
  jobQuery: Pick<JobQuery, "page" | "statusCounts">;
  /** A finished job run again as a new job (daemon/job-retry.ts). */
  retries: Pick<JobRetries, "retry">;
  capacity: Capacity;
  /** Jobs per queue and status (store/stats-store.ts), for the metrics. */
  jobCounts(): QueueStatusCount[];
  /** The data disk's state now (free space, under MIN_FREE_DISK, a write refused for lack of space). */
  disk(): DiskState;
  bus: EventBus;
  defaults: WorkerConfig;
  logger: Logger;
  /** Peer federation, when PEER_SECRET is set; absent: a daemon on its own. */
  federation?: Federation;
  /** CORS_ORIGINS: empty for no cross-origin access. */
  corsOrigins?: string[];
  /** Aborted when the daemon begins to stop: live streams (SSE) end, so the server can close. */
  stopping?: AbortSignal;
}
