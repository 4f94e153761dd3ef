// The daemon's Prometheus metrics (prom-client), one registry per daemon. Three sources:
// - the store, read when scraped: jobs per queue and status (one grouped query);
// - the scheduler, read when scraped: slots per queue and how many run a job;
// - the event bus, counted as it happens: submissions, wait and run times, retries, escalations,
//   finished jobs; and the HTTP middleware (./http.ts): requests by route and code, uploads.
// Nothing here can slow the scheduler: the bus listener only updates in-memory counters.
// The four modules, not prom-client's index (see types/prom-client.d.ts).
import Counter from "prom-client/lib/counter.js";
import Gauge from "prom-client/lib/gauge.js";
import Histogram from "prom-client/lib/histogram.js";
import Registry from "prom-client/lib/registry.js";
import type { EventBus, JobEvent } from "../events/bus.ts";
import type { FederationStats } from "../federation/federation.ts";
import { isTerminal, JobStatus } from "../jobs/states.ts";
import type { DiskState } from "../storage/disk-guard.ts";
import type { QueueStatusCount } from "../store/stats-store.ts";

/** What the metrics read from the daemon, and nothing more. */
export interface MetricsSources {
  version: string;
  bus: EventBus;
  /** Jobs per (queue, status), from the store. */
  jobCounts(): QueueStatusCount[];
  /** The local slots and whether each runs a job now. */
  slots(): readonly { id: string; queue: string }[];
  isBusy(slotId: string): boolean;
  /** When a job was submitted, for a job that was already waiting when this daemon started. */
  requestedAt(uuid: string): number | null;
  /** The data disk now. */
  disk(): DiskState;
  /** Peers and hand-offs, when federation is on. */
  federation?: () => FederationStats;
}

const STATUSES = Object.values(JobStatus);
/** Waits: from instant to hours (a backlog, or no slot for the queue). */
const WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 900, 3600, 4 * 3600];
/** Runs: a no-op script takes ~20 ms; CAD preparation takes minutes to hours. */
const RUN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600];
export const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60];

export class DaemonMetrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<"method" | "route" | "code">;
  readonly httpDuration: Histogram<"method" | "route">;
  readonly uploads: Counter<"result">;
  readonly uploadBytes: Counter<"result">;
  private readonly submitted: Counter<"queue">;
  private readonly finished: Counter<"queue" | "status">;
  private readonly waitTime: Histogram<"queue">;
  private readonly runTime: Histogram<"queue" | "outcome">;
  private readonly retries: Counter<"from_queue" | "to_queue">;
  private readonly escalations: Counter<"from_queue" | "to_queue">;
  /** Job -> when it last began waiting (PENDING or RETRY). */
  private readonly waitingSince = new Map<string, number>();
  /** Job -> when its running attempt started, and on which queue. */
  private readonly runningSince = new Map<string, { at: number; queue: string }>();
  private readonly unsubscribe: () => void;

  constructor(private readonly sources: MetricsSources) {
    const registers = [this.registry];

    new Gauge({
      name: "pixyz_build_info",
      help: "The daemon's version (always 1)",
      labelNames: ["version"],
      registers,
    }).set({ version: sources.version }, 1);
    const startedAt = Date.now() / 1000;
    new Gauge({
      name: "process_start_time_seconds",
      help: "Start time of the process since the Unix epoch, in seconds",
      registers,
      collect() {
        this.set(startedAt);
      },
    });
    new Gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory of the daemon process, in bytes",
      registers,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
    new Counter({
      name: "process_cpu_seconds_total",
      help: "User and system CPU time of the daemon process, in seconds",
      registers,
      collect() {
        const { user, system } = process.cpuUsage();
        this.reset();
        this.inc((user + system) / 1e6);
      },
    });

    new Gauge({
      name: "pixyz_jobs",
      help: "Jobs in the store by queue and status (finished jobs count until JOB_RETENTION removes them)",
      labelNames: ["queue", "status"],
      registers,
      collect() {
        this.reset();
        const counts = sources.jobCounts();
        // Every status of every known queue, so a status that empties shows 0 instead of vanishing.
        for (const queue of new Set(counts.map((c) => c.queue))) {
          for (const status of STATUSES) this.set({ queue, status }, 0);
        }
        for (const { queue, status, count } of counts) this.set({ queue, status }, count);
      },
    });
    new Gauge({
      name: "pixyz_slots",
      help: "Local worker slots by queue (the queue each slot serves first)",
      labelNames: ["queue"],
      registers,
      collect() {
        this.reset();
        for (const slot of sources.slots()) this.inc({ queue: slot.queue });
      },
    });
    new Gauge({
      name: "pixyz_slots_busy",
      help: "Local worker slots that run a job now, by queue",
      labelNames: ["queue"],
      registers,
      collect() {
        this.reset();
        for (const slot of sources.slots()) this.inc({ queue: slot.queue }, sources.isBusy(slot.id) ? 1 : 0);
      },
    });

    // One statfs per scrape serves the four disk gauges.
    let disk: DiskState | null = null;
    const diskGauge = (name: string, help: string, value: (d: DiskState) => number, first = false) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          if (first || disk === null) disk = sources.disk();
          this.set(value(disk));
        },
      });
    diskGauge("pixyz_disk_free_bytes", "Free bytes on the data folder's disk", (d) => d.freeBytes, true);
    diskGauge("pixyz_disk_total_bytes", "Size of the data folder's disk, in bytes", (d) => d.totalBytes);
    diskGauge(
      "pixyz_disk_low",
      "1 while free space is under MIN_FREE_DISK (uploads are refused with 507)",
      (d) => (d.low ? 1 : 0),
    );
    diskGauge(
      "pixyz_disk_full",
      "1 after a write failed for lack of space, until free space comes back (MIN_FREE_DISK plus a small reserve)",
      (d) => (d.full ? 1 : 0),
    );

    if (sources.federation) this.federationMetrics(sources.federation, registers);

    this.submitted = new Counter({
      name: "pixyz_jobs_submitted_total",
      help: "Jobs accepted (child jobs included), by queue",
      labelNames: ["queue"],
      registers,
    });
    this.finished = new Counter({
      name: "pixyz_jobs_finished_total",
      help: "Jobs that reached a final status (SUCCESS, FAILURE, REVOKED), by queue and status",
      labelNames: ["queue", "status"],
      registers,
    });
    this.waitTime = new Histogram({
      name: "pixyz_job_wait_seconds",
      help: "Time from when a job began waiting (submitted, or put back for a retry) until a slot started it, by the queue it ran on",
      labelNames: ["queue"],
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.runTime = new Histogram({
      name: "pixyz_job_run_seconds",
      help: "Duration of job attempts, by queue and what followed (SUCCESS, FAILURE, REVOKED, RETRY, PENDING when a stop interrupted it)",
      labelNames: ["queue", "outcome"],
      buckets: RUN_BUCKETS,
      registers,
    });
    this.retries = new Counter({
      name: "pixyz_job_retries_total",
      help: "Attempts that failed on the infrastructure and were queued again, by the queue they ran on and the next one",
      labelNames: ["from_queue", "to_queue"],
      registers,
    });
    this.escalations = new Counter({
      name: "pixyz_job_escalations_total",
      help: "Retries that moved the job to another queue (e.g. cpu to gpuhigh)",
      labelNames: ["from_queue", "to_queue"],
      registers,
    });

    this.httpRequests = new Counter({
      name: "pixyz_http_requests_total",
      help: "HTTP requests by method, route pattern (not the raw path) and status code",
      labelNames: ["method", "route", "code"],
      registers,
    });
    this.httpDuration = new Histogram({
      name: "pixyz_http_request_duration_seconds",
      help: "Time to answer an HTTP request (to the response head; a stream's life is not counted), by method and route pattern",
      labelNames: ["method", "route"],
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.uploads = new Counter({
      name: "pixyz_uploads_total",
      help: "Job submissions (POST /jobs) by result: accepted (2xx) or refused",
      labelNames: ["result"],
      registers,
    });
    this.uploadBytes = new Counter({
      name: "pixyz_upload_bytes_total",
      help: "Bytes of job submissions (POST /jobs request bodies, as declared by Content-Length) by result",
      labelNames: ["result"],
      registers,
    });

    this.unsubscribe = sources.bus.subscribe((event) => this.onEvent(event));
  }

  /** Peers by state, adverts lost, offers, leases, bytes, jobs delegated each way: read at scrape. */
  private federationMetrics(stats: () => FederationStats, registers: Registry[]): void {
    new Gauge({
      name: "pixyz_peers",
      help: "Peer daemons by state (alive, suspect, gone, unknown)",
      labelNames: ["state"],
      registers,
      collect() {
        this.reset();
        for (const state of ["alive", "suspect", "gone", "unknown"]) this.set({ state }, 0);
        for (const peer of stats().peers) this.inc({ state: peer.state });
      },
    });
    const perPeer = (name: string, help: string, value: (p: FederationStats["peers"][number]) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ["peer"],
        registers,
        collect() {
          this.reset();
          for (const peer of stats().peers) this.set({ peer: peer.name }, value(peer));
        },
      });
    perPeer(
      "pixyz_peer_adverts_lost",
      "Adverts of a peer that never arrived (from its sequence numbers)",
      (p) => p.lostAdverts,
    );
    perPeer("pixyz_peer_jobs_delegated_to", "Jobs this daemon handed to a peer", (p) => p.delegatedTo);
    perPeer("pixyz_peer_jobs_delegated_from", "Jobs a peer handed to this daemon", (p) => p.delegatedFrom);
    const counter = (name: string, help: string, value: (c: FederationStats["counters"]) => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value(stats().counters));
        },
      });
    counter(
      "pixyz_peer_offers_accepted_total",
      "Offers of jobs that a peer accepted",
      (c) => c.offersAccepted,
    );
    counter(
      "pixyz_peer_offers_refused_total",
      "Offers of jobs that a peer refused (no free slot)",
      (c) => c.offersRefused,
    );
    counter(
      "pixyz_peer_leases_expired_total",
      "Delegated attempts lost (lease expired, peer restarted)",
      (c) => c.leasesExpired,
    );
    counter(
      "pixyz_peer_bytes_received_total",
      "File bytes received from peers (inputs and outputs)",
      (c) => c.bytesReceived,
    );
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.unsubscribe();
  }

  private onEvent(event: JobEvent): void {
    if (event.type !== "status") return;
    const { job, from, to, queue, at } = event;
    if (from === null && to === JobStatus.PENDING) this.submitted.inc({ queue });

    const run = this.runningSince.get(job);
    if (from === JobStatus.STARTED && run) {
      this.runTime.observe({ queue: run.queue, outcome: to }, Math.max(0, at - run.at) / 1000);
      this.runningSince.delete(job);
    }
    if (to === JobStatus.RETRY) {
      const fromQueue = run?.queue ?? "unknown";
      this.retries.inc({ from_queue: fromQueue, to_queue: queue });
      if (fromQueue !== queue) this.escalations.inc({ from_queue: fromQueue, to_queue: queue });
    }
    if (to === JobStatus.PENDING || to === JobStatus.RETRY) this.waitingSince.set(job, at);
    if (to === JobStatus.STARTED) {
      // A job that waited before this daemon started has no entry: its submission time stands in.
      const since = this.waitingSince.get(job) ?? this.sources.requestedAt(job);
      if (since !== null) this.waitTime.observe({ queue }, Math.max(0, at - since) / 1000);
      this.waitingSince.delete(job);
      this.runningSince.set(job, { at, queue });
    }
    if (isTerminal(to)) {
      this.finished.inc({ queue, status: to });
      this.waitingSince.delete(job);
      this.runningSince.delete(job);
    }
  }
}
