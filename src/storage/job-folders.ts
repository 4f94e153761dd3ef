// The on-disk layout of jobs under <data>/jobs:
//   <uuid>/script/<file>   the uploaded script (kept apart from inputs: same names never clash)
//   <uuid>/inputs/...      the uploaded input
//   <uuid>/outputs/...     what the script writes
//   <uuid>/job.log         the child's stdout and stderr, all attempts
// New jobs are assembled under .staging/<uuid> and renamed into place once validated and synced.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join, relative } from "node:path";

export class JobFolders {
  readonly root: string;
  readonly staging: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, "jobs");
    this.staging = join(this.root, ".staging");
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

  /** A fresh staging folder for a submission; `commit` moves it into place. */
  stage(uuid: string): { dir: string; commit: () => void; discard: () => void } {
    const dir = join(this.staging, uuid);
    mkdirSync(join(dir, "inputs"), { recursive: true });
    mkdirSync(join(dir, "outputs"), { recursive: true });
    mkdirSync(join(dir, "script"), { recursive: true });
    return {
      dir,
      commit: () => {
        for (const sub of ["script", "inputs", "outputs", ""]) syncDir(join(dir, sub));
        renameSync(dir, this.dir(uuid));
        syncDir(this.root);
      },
      discard: () => rmSync(dir, { recursive: true, force: true }),
    };
  }

  /** Removes a job's folder (a submission that failed after its files were moved into place). */
  remove(uuid: string): void {
    rmSync(this.dir(uuid), { recursive: true, force: true });
  }

  /** Removes what an interrupted submission left in staging. */
  clearStaging(): void {
    rmSync(this.staging, { recursive: true, force: true });
    mkdirSync(this.staging, { recursive: true });
  }

  /** Every file under the outputs folder, as paths relative to it, sorted. */
  listOutputs(uuid: string): string[] {
    const base = this.outputsDir(uuid);
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
        else if (entry.isFile()) files.push(relative(base, path));
      }
    };
    walk(base);
    return files.sort();
  }
}

export function syncDir(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
