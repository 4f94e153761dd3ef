// One daemon per data folder. Two daemons on the same folder would each sweep "interrupted" jobs
// the other is running (killing them and running them again), so the lock is the first thing a
// start takes and the last thing a stop gives back.
//
// The lock is an exclusive SQLite lock (POSIX advisory locks underneath) on <data>/daemon.lock:
// the kernel drops it when the process dies, however it dies, so a kill -9 never leaves a stale
// lock behind, and SQLite also refuses a second holder inside the same process. The holder's pid
// goes in <data>/daemon.pid (only a message for whoever is refused: the lock is the truth).
import { Database } from "bun:sqlite";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export class DataFolderLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holderPid: number | null,
  ) {
    super(
      `another pixyz-scheduler (pid ${holderPid ?? "unknown"}) is already serving the data folder ${dataDir}; stop it first or choose another --data-dir`,
    );
    this.name = "DataFolderLockedError";
  }
}

export interface DataFolderLock {
  release(): void;
}

/** Takes the data folder for this process, or throws DataFolderLockedError naming the holder. */
export function lockDataFolder(dataDir: string): DataFolderLock {
  const pidFile = join(dataDir, "daemon.pid");
  const db = new Database(join(dataDir, "daemon.lock"), { create: true });
  try {
    db.exec("PRAGMA busy_timeout = 0");
    db.exec("PRAGMA locking_mode = EXCLUSIVE");
    // The exclusive transaction is never committed: the lock lives as long as this connection.
    db.exec("BEGIN EXCLUSIVE");
  } catch {
    db.close();
    throw new DataFolderLockedError(dataDir, readPid(pidFile));
  }
  writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o644 });
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      rmSync(pidFile, { force: true });
      db.close();
    },
  };
}

function readPid(pidFile: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(pidFile, "utf8"), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
