// Making the store's commits durable without blocking the event loop: the commits a client is told
// about (a submission, a cancel) commit like every other one, at `synchronous = NORMAL` (their
// pages written to the WAL file, not flushed), and the caller then waits for `sync()`: an
// fdatasync of the WAL file on Bun's I/O threads. That is what SQLite's FULL does at each commit
// (it flushes the WAL file, nothing else), done off the event loop, so:
// - the loop runs other requests, claims and job ends during the flush (it used to block 1 to
//   1.5 ms per submission here);
// - the committed job may be claimed and started while its commit is flushed (a power loss in
//   between undoes a job whose client was never answered: the same as a crash before the commit);
// - submissions that commit while a flush is running share the next one (group commit).
// SQLite's checkpoints fsync the WAL before copying it into the database, and the database after:
// a commit already checkpointed when its sync runs is on disk either way.
import { closeSync, constants, existsSync, fstatSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { fdatasyncAsync, syncDir } from "../storage/fsync.ts";

export class WalSync {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  /** `fd` of the database's WAL file, or null for a database with none (in memory). */
  private constructor(private fd: number | null) {}

  /**
   * For the database at `path`, opened in WAL mode (its WAL file exists once it has been written:
   * openDatabase's migrations do). The WAL file's name is made durable here once: SQLite does so
   * at its first fsync, which at NORMAL comes only with the first checkpoint.
   */
  static open(path: string): WalSync {
    if (path === "" || path === ":memory:") return new WalSync(null);
    // Without it nothing would be flushed: refused rather than silently not durable.
    if (!existsSync(`${path}-wal`)) throw new Error(`${path} has no WAL file: is it open in WAL mode?`);
    const fd = openSync(`${path}-wal`, constants.O_RDWR | constants.O_NOFOLLOW);
    if (!fstatSync(fd).isFile()) {
      closeSync(fd);
      throw new Error(`${path}-wal is not a regular file`);
    }
    syncDir(dirname(path));
    return new WalSync(fd);
  }

  /**
   * Resolves once every commit made before this call is on disk. A flush already running may have
   * started before the caller's commit: the caller then waits for the next one, which every caller
   * arriving meanwhile shares.
   */
  sync(): Promise<void> {
    if (this.fd === null) return Promise.resolve();
    if (!this.running) return this.start();
    this.next ??= this.running
      .catch(() => {}) // the next flush is owed whatever became of the running one
      .then(() => {
        this.next = null;
        return this.start();
      });
    return this.next;
  }

  private start(): Promise<void> {
    const fd = this.fd;
    if (fd === null) return Promise.resolve();
    const flush = fdatasyncAsync(fd).finally(() => {
      if (this.running === flush) this.running = null;
    });
    this.running = flush;
    return flush;
  }

  /** Closes the WAL file once any flush has run (the store is closing); later syncs resolve at once. */
  close(): void {
    const fd = this.fd;
    if (fd === null) return;
    this.fd = null;
    const pending = this.next ?? this.running;
    if (pending) void pending.catch(() => {}).finally(() => closeSync(fd));
    else closeSync(fd);
  }
}
