// The internal `zip` queue: builds the zip of a finished job's outputs in the daemon (no child
// process), a few at a time, and keeps it as <job>/archives/<uuid>.zip. The API asks `request`
// and answers 425 until the archive is ready, as the original did; unlike the original, a build
// that died with the daemon is simply started again (no state file to go stale).
import { existsSync } from "node:fs";
import type { Logger } from "../log/logger.ts";
import { StorageError } from "../storage/errors.ts";
import type { JobFolders } from "../storage/job-folders.ts";
import { writeZip } from "../storage/output-archive.ts";

/** Builds run at once; more wait their turn. */
const CONCURRENT_BUILDS = 2;

export type ArchiveState =
  | { state: "ready"; path: string }
  | { state: "building"; started: boolean }
  | { state: "failed"; error: Error };

export class OutputArchives {
  private readonly building = new Map<string, Promise<void>>();
  private readonly failed = new Map<string, Error>();
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly folders: JobFolders,
    private readonly logger: Logger,
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
      this.logger.error("output archive failed", { job: uuid, error: String(error) });
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}
