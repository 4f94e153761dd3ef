// What `pixyz-scheduler run` shows on stderr while the engine works: every job's steps as they
// come, child jobs as they start, every job's end, and what the jobs print (their shared log),
// all in order. It only listens (the event bus) and reads (the store).
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { basename } from "node:path";
import type { EventBus, JobEvent } from "../events/bus.ts";
import { errorHeadline } from "../jobs/error-headline.ts";
import { isTerminal, JobStatus } from "../jobs/states.ts";
import type { JobStore } from "../store/job-store.ts";

/** One line on our stderr, written at once (in order with the job output copied there). */
export function say(line: string): void {
  writeSync(2, `${line}\n`);
}

/**
 * The jobs write stdout/stderr to a log file (as under the daemon); this copies what they add to
 * our stderr, every 100 ms and before each line of ours, so the two stay in order.
 */
export class LogTail {
  private offset = 0;
  private readonly fd: number;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(readonly path: string) {
    this.fd = openSync(path, "a+");
    this.timer = setInterval(() => this.pump(), 100);
  }

  pump(): void {
    const chunk = Buffer.alloc(64 * 1024);
    for (;;) {
      const n = readSync(this.fd, chunk, 0, chunk.length, this.offset);
      if (n <= 0) return;
      this.offset += n;
      writeSync(2, chunk.subarray(0, n));
    }
  }

  private closed = false;

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.pump();
    closeSync(this.fd);
  }
}

interface Seen {
  label: string;
  /** Steps shown so far. */
  steps: number;
  /** The last total the job announced. */
  total: number;
}

export class RunReport {
  private readonly jobs = new Map<string, Seen>();
  private children = 0;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: Pick<JobStore, "get">,
    bus: EventBus,
    private readonly log: LogTail,
    /** The root job's label: `script.ts:main`. */
    private readonly rootLabel: string,
    /** Called for a job on a queue the run does not serve: it would wait for ever. */
    private readonly unserved: (uuid: string, queue: string) => boolean,
  ) {
    this.unsubscribe = bus.subscribe((event) => this.onEvent(event));
  }

  close(): void {
    this.unsubscribe();
  }

  private say(line: string): void {
    this.log.pump();
    say(line);
  }

  private onEvent(event: JobEvent): void {
    const job = this.store.get(event.job);
    if (!job) return;
    let seen = this.jobs.get(job.uuid);
    if (!seen) {
      const label = job.parentUuid
        ? `child ${++this.children} ${job.name ?? job.entrypoint}`
        : `${this.rootLabel}`;
      seen = { label, steps: 0, total: 0 };
      this.jobs.set(job.uuid, seen);
      const parent = job.parentUuid ? this.jobs.get(job.parentUuid) : undefined;
      if (parent) this.say(`[${label}] started: job ${job.uuid} on queue ${job.queue}, from ${parent.label}`);
      if (this.unserved(job.uuid, job.queue)) {
        this.say(`[${label}] queue '${job.queue}' is not served by a local run: the job is cancelled`);
      }
    }
    // Progress is coalesced (and a short job may end before it is flushed): the steps are read
    // back from what the event or the row holds, and only new ones are shown.
    const steps: { info: string }[] =
      event.type === "progress" ? event.steps : job.stepsJson ? JSON.parse(job.stepsJson) : [];
    if (event.type === "progress") seen.total = event.total;
    for (; seen.steps < steps.length; seen.steps++) {
      const total = Math.max(seen.total, steps.length);
      this.say(`[${seen.label}] step ${seen.steps + 1}/${total}: ${steps[seen.steps]!.info}`);
    }
    if (event.type === "status" && isTerminal(event.to)) {
      const seconds =
        job.startedAt && job.stoppedAt ? ((job.stoppedAt - job.startedAt) / 1000).toFixed(2) : "0";
      const why = event.to === JobStatus.SUCCESS ? "" : `: ${errorHeadline(job.error ?? event.to)}`;
      this.say(`[${seen.label}] ${event.to} in ${seconds} s${why}`);
    }
  }
}

/** The root job's label: the script's file name and its entrypoint. */
export function rootLabel(script: string, entrypoint: string): string {
  return `${basename(script)}:${entrypoint}`;
}
