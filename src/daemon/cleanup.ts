// The cleanup cron (croner, CLEANUP_CRON). Each sweep:
// - CLEANUP_ENABLED: removes the folders of jobs that finished more than CLEANUP_DELAY seconds ago;
//   their rows stay, marked, so the API answers 410 Gone for their files;
// - JOB_RETENTION > 0: deletes the rows (and any folder left) of jobs finished longer ago than that;
// - removes job folders that have no row (a submission interrupted between its rename and its
//   insert, or rows deleted by retention whose folder removal failed), once older than the delay.
// Waiting and running jobs are never touched: only finished statuses are selected. A sweep never
// overlaps the previous one ({protect: true}).
import { statSync } from "node:fs";
import { Cron } from "croner";
import type { Logger } from "../log/logger.ts";
import type { JobFolders } from "../storage/job-folders.ts";
import type { JobStore } from "../store/job-store.ts";
import { formatBytes } from "../text/bytes.ts";

export interface CleanupSettings {
  enabled: boolean;
  delayS: number;
  cron: string;
  retentionS: number;
}

export interface SweepReport {
  /** Jobs whose folder was removed (rows kept). */
  cleaned: string[];
  /** Jobs whose rows were deleted. */
  deleted: string[];
  /** Folders without a job row that were removed. */
  orphans: string[];
  bytesFreed: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class Cleanup {
  private cron: Cron | null = null;
  private sweeping: Promise<SweepReport> | null = null;

  constructor(
    private readonly settings: CleanupSettings,
    private readonly store: Pick<
      JobStore,
      "filesToClean" | "markFilesCleaned" | "finishedBefore" | "deleteFinished" | "knownUuids"
    >,
    private readonly folders: Pick<JobFolders, "dir" | "jobDirs" | "remove">,
    private readonly logger: Logger,
    /** Jobs whose folder is in use by the daemon itself (an archive being built). */
    private readonly busy: (uuid: string) => boolean = () => false,
  ) {}

  get active(): boolean {
    return this.settings.enabled || this.settings.retentionS > 0;
  }

  start(): void {
    if (!this.active || this.cron) return;
    this.cron = new Cron(this.settings.cron, { protect: true, name: "cleanup" }, async () => {
      try {
        await this.sweep();
      } catch (error) {
        this.logger.error("cleanup sweep failed", { error: String(error) });
      }
    });
    this.logger.info("cleanup scheduled", {
      cron: this.settings.cron,
      filesAfterS: this.settings.enabled ? this.settings.delayS : "never",
      rowsAfterS: this.settings.retentionS || "never",
      next: this.cron.nextRun()?.toISOString(),
    });
  }

  async stop(): Promise<void> {
    this.cron?.stop();
    this.cron = null;
    await this.sweeping;
  }

  /** One sweep now (the cron calls this); a sweep already running is joined, not doubled. */
  sweep(now = Date.now()): Promise<SweepReport> {
    this.sweeping ??= this.run(now).finally(() => {
      this.sweeping = null;
    });
    return this.sweeping;
  }

  private async run(now: number): Promise<SweepReport> {
    const report: SweepReport = { cleaned: [], deleted: [], orphans: [], bytesFreed: 0 };
    const { enabled, delayS, retentionS } = this.settings;

    if (enabled) {
      for (const job of this.store.filesToClean(now - delayS * 1000)) {
        if (this.busy(job.uuid)) continue;
        const bytes = this.folders.remove(job.uuid);
        this.store.markFilesCleaned(job.id, now);
        report.cleaned.push(job.uuid);
        report.bytesFreed += bytes;
        this.logger.info("cleanup removed job files", { job: job.uuid, status: job.status, bytes });
      }
    }

    if (retentionS > 0) {
      const old = this.store.finishedBefore(now - retentionS * 1000).filter((job) => !this.busy(job.uuid));
      for (const job of old) report.bytesFreed += this.folders.remove(job.uuid);
      this.store.deleteFinished(old.map((job) => job.id));
      for (const job of old) {
        report.deleted.push(job.uuid);
        this.logger.info("cleanup deleted job", { job: job.uuid, status: job.status });
      }
    }

    if (enabled) {
      const dirs = this.folders.jobDirs().filter((name) => UUID.test(name));
      const known = this.store.knownUuids(dirs);
      for (const uuid of dirs) {
        if (known.has(uuid)) continue;
        let mtime: number;
        try {
          mtime = statSync(this.folders.dir(uuid)).mtimeMs;
        } catch {
          continue;
        }
        if (mtime >= now - delayS * 1000) continue;
        report.bytesFreed += this.folders.remove(uuid);
        report.orphans.push(uuid);
        this.logger.warn("cleanup removed a job folder without a job", { folder: uuid });
      }
    }

    this.logger.info("cleanup sweep done", {
      cleaned: report.cleaned.length,
      deleted: report.deleted.length,
      orphans: report.orphans.length,
      freed: formatBytes(report.bytesFreed),
      bytesFreed: report.bytesFreed,
    });
    return report;
  }
}
