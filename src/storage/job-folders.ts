// The on-disk layout of jobs under <data>/jobs:
//   <uuid>/script/<file>   the uploaded script (kept apart from inputs: same names never clash)
//   <uuid>/inputs/...      the uploaded input (an archive is kept and extracted beside it)
//   <uuid>/outputs/...     what the script writes
//   <uuid>/archives/<uuid>.zip  the zip of the outputs, built on request
//   <uuid>/job.log         the child's stdout and stderr, all attempts
// New jobs are assembled under .staging/<uuid> and renamed into place once validated and synced.
// A few staging folders are made ahead of need in .staging/.ready (READY_STAGES): a submission
// takes one with a rename instead of waiting for four mkdirs.
import { existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { syncDir, syncDirAsync, syncTree } from "./fsync.ts";
import { isOwnFile } from "./safe-path.ts";

/**
 * Staging folders kept made ahead. Four mkdirs cost a submission 0.25 to 1 ms on ext4 here, and up
 * to 2 to 3 ms while another submission's fsync commits the journal: on an idle daemon that was the
 * largest step between a POST's headers and its job's start. Taking one is a rename (about 0.1 ms).
 */
const READY_STAGES = 4;
/** Where they wait, inside staging (so it is cleared with staging at start). */
const READY_FOLDER = ".ready";

export class JobFolders {
  readonly root: string;
  readonly staging: string;
  /** Where the staging folders made ahead wait (inside staging: cleared with it at start). */
  private readonly readyDir: string;
  /** uuids of staging folders made ahead, each with its inputs/, outputs/ and script/. */
  private readonly ready: string[] = [];
  private refilling = false;
  /** Stages taken and not yet committed or discarded: submissions under way. */
  private openStages = 0;
  /** Bumped when staging is cleared: a refill then under way keeps nothing it made before. */
  private generation = 0;

  /** @param closed job folders are made 0700 (JOB_USER: only an attempt opens one, storage/job-access.ts). */
  constructor(
    dataDir: string,
    private readonly closed = false,
  ) {
    this.root = join(dataDir, "jobs");
    this.staging = join(this.root, ".staging");
    this.readyDir = join(this.staging, READY_FOLDER);
    mkdirSync(this.staging, { recursive: true });
  }

  dir(uuid: string): string {
    return join(this.root, uuid);
  }
  scriptDir(uuid: string): string {
    return join(this.dir(uuid), "script");
  }
  inputsDir(uuid: string): string {
    return join(this.dir(uuid), "inputs");
  }
  outputsDir(uuid: string): string {
    return join(this.dir(uuid), "outputs");
  }
  logFile(uuid: string): string {
    return join(this.dir(uuid), "job.log");
  }
  /** A finished job's outputs fsynced (fsync.ts): before its SUCCESS is stored. */
  syncOutputs(uuid: string): Promise<void> {
    return syncTree(this.outputsDir(uuid));
  }
  archivesDir(uuid: string): string {
    return join(this.dir(uuid), "archives");
  }
  /** Where the zip of the outputs is cached once built. */
  outputArchive(uuid: string): string {
    return join(this.archivesDir(uuid), `${uuid}.zip`);
  }

  /**
   * A fresh staging folder under a new uuid (one made ahead when there is one); `commit` moves it
   * into place as the job's folder.
   */
  stage(): Stage {
    const made = this.takeReady();
    const uuid = made ?? crypto.randomUUID();
    const dir = join(this.staging, uuid);
    if (!made) {
      // One mkdir each (the staging folder exists): a recursive mkdir stats every parent first.
      mkdirSync(dir, this.folderMode());
      for (const sub of STAGE_FOLDERS) mkdirSync(join(dir, sub));
    }
    this.openStages++;
    let open = true;
    const close = () => {
      if (open) this.openStages--;
      open = false;
    };
    // The files were fsynced as they were written; a commit fsyncs the names: the script's, the
    // inputs' (an empty folder has none), and the three folders' in the job's own. No fsync of
    // jobs/ after the rename: the store's commit of the row that follows is fsynced, and a folder
    // whose rename a power loss undid is still whole in staging, where the next start finishes the
    // rename for a job the store knows (recoverStaging). Two to three fsyncs fewer per job.
    const toSync = (inputsWritten?: boolean) => {
      const folders = [join(dir, "script"), dir];
      if (inputsWritten ?? readdirSync(join(dir, "inputs")).length > 0) folders.push(join(dir, "inputs"));
      return folders;
    };
    return {
      uuid,
      dir,
      scriptDir: join(dir, "script"),
      inputsDir: join(dir, "inputs"),
      commit: async (inputsWritten?: boolean) => {
        await Promise.all(toSync(inputsWritten).map(syncDirAsync));
        renameSync(dir, this.dir(uuid));
        close();
      },
      commitSync: (inputsWritten?: boolean) => {
        for (const folder of toSync(inputsWritten)) syncDir(folder);
        renameSync(dir, this.dir(uuid));
        close();
      },
      discard: () => {
        close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  /** A folder made ahead, moved to staging under its uuid; null when none is ready (or it is gone). */
  private takeReady(): string | null {
    for (let uuid = this.ready.pop(); uuid !== undefined; uuid = this.ready.pop()) {
      try {
        renameSync(join(this.readyDir, uuid), join(this.staging, uuid));
        return uuid;
      } catch {
        // removed under us (staging cleared by hand): the next one, or a folder made now
      }
    }
    return null;
  }

  private folderMode(): { mode: number } | undefined {
    return this.closed ? { mode: 0o700 } : undefined;
  }

  /**
   * Makes staging folders ahead until READY_STAGES wait, on Bun's I/O threads. Called once a
   * submission has its answer, and does nothing while another one is under way: made beside a
   * submission, their mkdirs waited on its fsyncs in the file system's journal (its script took
   * 2.6 ms instead of 0.7 to be written). So an idle daemon's next submission takes one, and under
   * a load stages are made in place, as without this. A failure (a full disk) leaves the pool
   * short: stage() then makes its folder itself and reports what went wrong.
   */
  prepareStages(): void {
    if (this.refilling || this.openStages > 0 || this.ready.length >= READY_STAGES) return;
    this.refilling = true;
    const generation = this.generation;
    void (async () => {
      try {
        await mkdir(this.readyDir, { recursive: true });
        while (this.ready.length < READY_STAGES && generation === this.generation) {
          const uuid = crypto.randomUUID();
          const dir = join(this.readyDir, uuid);
          await mkdir(dir, this.folderMode());
          await Promise.all(STAGE_FOLDERS.map((sub) => mkdir(join(dir, sub))));
          if (generation === this.generation) this.ready.push(uuid);
        }
      } catch {
        // stage() makes its own folder when none is ready
      } finally {
        this.refilling = false;
      }
    })();
  }

  /** Removes a job's folder; returns the bytes its files took (0 when there was none). */
  remove(uuid: string): number {
    const freed = diskUsage(this.dir(uuid));
    rmSync(this.dir(uuid), { recursive: true, force: true });
    return freed;
  }

  /** Names of the job folders present (staging excluded). */
  jobDirs(): string[] {
    return readdirSync(this.root).filter((name) => !name.startsWith("."));
  }

  /**
   * At start: a staged folder of a job the store knows (`isStored`) was committed, but a power loss
   * undid its rename (commit does not fsync jobs/): it is moved into place now. Looked for in
   * .ready too: neither the rename that took it from there nor the one that put it in place is
   * fsynced, and a file system that keeps only the fsynced folder's own names may undo both.
   * Anything else there is an interrupted submission (or a folder made ahead) and is removed.
   * Returns the uuids moved into place.
   */
  recoverStaging(isStored: (uuid: string) => boolean): string[] {
    const moved: string[] = [];
    for (const from of [this.staging, this.readyDir]) {
      if (!existsSync(from)) continue;
      for (const uuid of readdirSync(from)) {
        if (uuid !== READY_FOLDER && isStored(uuid) && !existsSync(this.dir(uuid))) {
          renameSync(join(from, uuid), this.dir(uuid));
          moved.push(uuid);
        }
      }
    }
    if (moved.length > 0) syncDir(this.root);
    this.clearStaging();
    return moved;
  }

  /** Removes what an interrupted submission left in staging (and the folders made ahead). */
  clearStaging(): void {
    this.ready.length = 0;
    this.generation++;
    rmSync(this.staging, { recursive: true, force: true });
    mkdirSync(this.staging, { recursive: true });
  }

  /** Every file of the job's own under the outputs folder (isOwnFile), relative to it, sorted. */
  listOutputs(uuid: string): string[] {
    const base = this.outputsDir(uuid);
    const root = statSync(base, { throwIfNoEntry: false });
    if (!root) return [];
    const files: string[] = [];
    const walk = (dir: string) => {
      let entries: import("node:fs").Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.isFile() && isOwnFile(lstatSync(path), root)) files.push(relative(base, path));
      }
    };
    walk(base);
    return files.sort();
  }
}

/** What a staging folder holds from the start. */
const STAGE_FOLDERS = ["inputs", "outputs", "script"] as const;

export interface Stage {
  uuid: string;
  dir: string;
  scriptDir: string;
  inputsDir: string;
  /**
   * Makes the staged files durable and moves them into place. `inputsWritten`: whether anything
   * was put in inputs/ (its names are then fsynced); a caller that does not know leaves it out and
   * the folder is read. The fsyncs run side by side on Bun's I/O threads.
   */
  commit: (inputsWritten?: boolean) => Promise<void>;
  /** `commit` with the event loop waiting: for a child job or a retry, made in a synchronous step. */
  commitSync: (inputsWritten?: boolean) => void;
  discard: () => void;
}

/** Bytes taken by the files under `path` (links counted as themselves, not followed). */
export function diskUsage(path: string): number {
  let stat: import("node:fs").Stats;
  try {
    stat = lstatSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.size;
  let total = 0;
  for (const name of readdirSync(path)) total += diskUsage(join(path, name));
  return total;
}
