// The internal `zip` queue: builds the zip of a finished job's outputs in the daemon (no child
// process), a few at a time, and keeps it as <job>/archives/<uuid>.zip. The API asks `request`
// and answers 425 until the archive is ready, as the original did; unlike the original, a build
// that died with the daemon is simply started again (no state file to go stale).
import { existsSync, type Stats } from "node:fs";
import { stat } from "node:fs/promises";
import { isTerminal } from "../jobs/states.ts";
import type { Logger } from "../log/logger.ts";
import { StorageError } from "../storage/errors.ts";
import type { JobFolders } from "../storage/job-folders.ts";
import type { JobRow } from "../store/schema.ts";

/** Builds run at once; more wait their turn. */
const CONCURRENT_BUILDS = 2;

/** What a client asking for a job's zip gets: the file, a wait (with when to ask again), or the build's failure. */
export type ArchiveAnswer =
  | { kind: "file"; path: string; info: Stats }
  | { kind: "wait"; message: string; retryAfterS: number }
  | { kind: "failed"; error: Error };

/** How long a request waits for a build in progress before answering "ask again". */
const ARCHIVE_WAIT_MS = 1000;

export type ArchiveState =
  | { state: "ready"; path: string }
  | { state: "building"; started: boolean }
  | { state: "failed"; error: Error };

/** Failed builds remembered until their report (a few hundred bytes each). */
const MAX_FAILURES = 1_000;

export class OutputArchives {
  private readonly building = new Map<string, Promise<void>>();
  private readonly failed = new Map<string, Error>();
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly folders: JobFolders,
    private readonly logger: Logger,
    /** Failures kept for their one report; past it the oldest are forgotten (a request builds again). */
    private readonly maxFailures = MAX_FAILURES,
  ) {}

  /**
   * The archive of a finished job: ready, being built (a build is started when there is none), or
   * failed (once: the next request tries again). `repack` rebuilds a ready archive.
   */
  request(uuid: string, repack = false): ArchiveState {
    if (this.building.has(uuid)) return { state: "building", started: false };
    const failure = this.failed.get(uuid);
    if (failure && !repack) {
      this.failed.delete(uuid);
      return { state: "failed", error: failure };
    }
    const path = this.folders.outputArchive(uuid);
    if (!repack && existsSync(path)) return { state: "ready", path };
    this.failed.delete(uuid);
    const build = this.build(uuid, path).finally(() => this.building.delete(uuid));
    this.building.set(uuid, build);
    return { state: "building", started: true };
  }

  /**
   * The zip of a job's outputs for a client: only once the job is finished; a build is started
   * (or, with `repack`, started again) and waited for up to a second, so a small job's zip comes
   * in one request.
   */
  async fetch(job: Pick<JobRow, "uuid" | "status">, repack: boolean): Promise<ArchiveAnswer> {
    if (!isTerminal(job.status)) {
      return { kind: "wait", message: `Job '${job.uuid}' is not finished yet`, retryAfterS: 5 };
    }
    let state = this.request(job.uuid, repack);
    if (state.state === "building") {
      await this.settle(job.uuid, ARCHIVE_WAIT_MS);
      state = this.request(job.uuid);
    }
    if (state.state === "failed") return { kind: "failed", error: state.error };
    const busy = `Archive task for job '${job.uuid}' is already running`;
    if (state.state === "building") {
      const message = state.started ? `Archive task created for job '${job.uuid}' outputs` : busy;
      return { kind: "wait", message, retryAfterS: 1 };
    }
    // A repack by another request may have removed it meanwhile.
    const info = await stat(state.path).catch(() => null);
    if (!info) return { kind: "wait", message: busy, retryAfterS: 1 };
    return { kind: "file", path: state.path, info };
  }

  isBuilding(uuid: string): boolean {
    return this.building.has(uuid);
  }

  /** Waits up to `ms` for a build of `uuid` in progress to end. */
  async settle(uuid: string, ms: number): Promise<void> {
    const build = this.building.get(uuid);
    if (build) await Promise.race([build, Bun.sleep(ms)]);
  }

  /** Resolves when no build runs (for shutdown and tests). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.building.values()]);
  }

  private async build(uuid: string, path: string): Promise<void> {
    if (this.running >= CONCURRENT_BUILDS) await new Promise<void>((go) => this.waiting.push(go));
    this.running++;
    const started = performance.now();
    try {
      const files = this.folders.listOutputs(uuid);
      // The zip writer (fflate) is loaded with the first archive, not with the daemon.
      const { writeZip } = await import("../storage/output-archive.ts");
      const bytes = await writeZip(this.folders.outputsDir(uuid), files, path);
      this.logger.info("output archive built", {
        job: uuid,
        files: files.length,
        bytes,
        ms: Math.round(performance.now() - started),
      });
    } catch (error) {
      const failure =
        error instanceof StorageError
          ? error
          : new Error(`The archive could not be built: ${(error as Error).message}`);
      this.failed.set(uuid, failure);
      // A failure nobody asks about again (its job deleted, its client gone) would stay for the
      // daemon's life: the oldest go first (insertion order).
      for (const oldest of this.failed.keys()) {
        if (this.failed.size <= this.maxFailures) break;
        this.failed.delete(oldest);
      }
      this.logger.error("output archive failed", { job: uuid, error: String(error) });
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}
