// Memory back to the system once the daemon turns idle: when no job runs and no request and no job
// event came for IDLE_DELAY_MS, a full garbage collection (`Bun.gc(true)`, which also has mimalloc
// return its free pages) and `Bun.shrink()`, JavaScriptCore's "shrink footprint when idle": it
// drops the code the JIT compiled during the load (recompiled when the work comes back) and
// collects again. Then the executable's pages the load touched go back to the kernel
// (page-out.ts). A load of no-op jobs left the daemon ~20 MiB above its start for good without
// the shrink (issue #13, bench/footprint.ts). Before it, the caches the daemon names (`release`: SQLite's
// page cache) are emptied, as the GC cannot see them. Once per idle period, at most once a minute: a daemon polled
// every few seconds (a scraper, a dashboard) pays for it once a minute, not at every quiet moment.

import { pageOutExecutable } from "./page-out.ts";

/** Quiet time before the shrink. */
export const IDLE_DELAY_MS = 5_000;
/** Least time between two shrinks. */
export const MIN_INTERVAL_MS = 60_000;
/** How often the quiet time is checked (an unref'd timer: it never keeps the process alive). */
const CHECK_EVERY_MS = 1_000;

/**
 * What the daemon does when idle: the heap collected and shrunk, then the executable's pages the
 * load touched handed back to the kernel (page-out.ts). `Bun.shrink` is marked deprecated in
 * bun-types, without a successor.
 */
export function shrinkNow(): void {
  Bun.gc(true);
  const bun = Bun as { shrink?: () => void };
  bun.shrink?.();
  pageOutExecutable();
}

export interface IdleShrinkOptions {
  /** Jobs running now (Scheduler.runningCount). */
  running: () => number;
  delayMs?: number;
  minIntervalMs?: number;
  shrink?: () => void;
  /**
   * Caches to give back before the shrink (the daemon's: SQLite's page cache, `PRAGMA
   * shrink_memory`, ~1 to 2 MiB after a load that its GC cannot reach). A failure is ignored: the
   * shrink still runs.
   */
  release?: () => void;
  /** Told what each shrink took and the RSS right after (the daemon logs it at debug level). */
  onShrink?: (ms: number, rssBytes: number) => void;
}

export class IdleShrink {
  private lastActivity = performance.now();
  private lastShrink = Number.NEGATIVE_INFINITY;
  /** Whether this idle period had its shrink already (nothing happened since the start either). */
  private done = true;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly delayMs: number;
  private readonly minIntervalMs: number;
  /** Shrinks so far. */
  count = 0;

  constructor(private readonly options: IdleShrinkOptions) {
    this.delayMs = options.delayMs ?? IDLE_DELAY_MS;
    this.minIntervalMs = options.minIntervalMs ?? MIN_INTERVAL_MS;
  }

  /** Something happened (a request, a job event): the next idle period gets a shrink. */
  touch(): void {
    this.lastActivity = performance.now();
    this.done = false;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), Math.min(CHECK_EVERY_MS, this.delayMs));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private check(): void {
    if (this.done || this.options.running() > 0) return;
    const now = performance.now();
    if (now - this.lastActivity < this.delayMs || now - this.lastShrink < this.minIntervalMs) return;
    this.done = true;
    this.lastShrink = now;
    this.count++;
    try {
      this.options.release?.();
    } catch {
      // a cache that cannot be released now (a closing store) keeps its memory until the next time
    }
    (this.options.shrink ?? shrinkNow)();
    this.options.onShrink?.(performance.now() - now, process.memoryUsage.rss());
  }
}
