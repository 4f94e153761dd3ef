// Samples the resident memory of every running job's process tree a few times a second, records
// each job's peak, and reports a job whose tree goes over its limit. One /proc scan per tick for
// all jobs (group-rss.ts reads only what may belong to them); the timer runs only while some job runs.
import { GroupRss } from "./group-rss.ts";

const SAMPLE_MS = 250;

interface Watched {
  limitKb: number;
  peakKb: number;
  onExceeded: (rssKb: number) => void;
}

export class MemoryWatch {
  private readonly watched = new Map<number, Watched>();
  /**
   * Made by the first sample and dropped when the timer stops: a scan cache held while idle would
   * be stale by the next job.
   */
  private scan: GroupRss | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;

  /** Watches process group `pgid`, which leads its own session; `limitKb` 0 means measure only. */
  watch(pgid: number, limitKb: number, onExceeded: (rssKb: number) => void): void {
    this.watched.set(pgid, { limitKb, peakKb: 0, onExceeded });
    this.timer ??= setInterval(() => this.sample(), SAMPLE_MS);
  }

  /** Stops watching; returns the peak seen (KB), or null when no sample was taken. */
  unwatch(pgid: number): number | null {
    const entry = this.watched.get(pgid);
    this.watched.delete(pgid);
    if (this.watched.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
      this.scan = null;
    }
    return entry && entry.peakKb > 0 ? entry.peakKb : null;
  }

  sample(): void {
    this.scan ??= new GroupRss();
    const totals = this.scan.measure(this.watched);
    for (const [pgid, entry] of this.watched) {
      const rss = totals.get(pgid) ?? 0;
      if (rss > entry.peakKb) entry.peakKb = rss;
      if (entry.limitKb > 0 && rss > entry.limitKb) entry.onExceeded(rss);
    }
  }
}
