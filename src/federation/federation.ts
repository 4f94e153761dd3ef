// Federation: this daemon's place among its peers. Adverts: every ADVERT_INTERVAL
// (with ±10 % jitter, so a LAN of daemons started together does not advert in lockstep) and soon
// after a change of its slots, it tells each peer what it serves: per queue its own slots (never a
// fallback), how many are busy and how many jobs wait, its GPUs, whether it drains. It learns the
// same from them (peers.ts), which GET /peers and the placement of jobs read. Hand-offs: as the
// origin, jobs it cannot serve itself go to peers under leases (delegation.ts); as an executor, it
// runs what peers hand it (execution.ts).

import type { JobService } from "../daemon/job-service.ts";
import type { EventBus } from "../events/bus.ts";
import type { Logger } from "../log/logger.ts";
import type { Gpu } from "../scheduler/capacity.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { JobFolders } from "../storage/job-folders.ts";
import type { JobStore } from "../store/job-store.ts";
import { type DelegationDeps, Delegator } from "./delegation.ts";
import { Discovery } from "./discovery.ts";
import { type ExecutionDeps, Executions } from "./execution.ts";
import { PeerClient } from "./peer-client.ts";
import { type Advert, type AdvertQueue, type Peer, PeerTable } from "./peers.ts";

/** Counters of the hand-offs, for /metrics. */
export interface FederationCounters {
  offersAccepted: number;
  offersRefused: number;
  leasesExpired: number;
  /** File bytes received from peers (inputs pulled here, outputs sent home here). */
  bytesReceived: number;
}

/** What /metrics reads of the federation. */
export interface FederationStats {
  peers: { name: string; state: string; lostAdverts: number; delegatedTo: number; delegatedFrom: number }[];
  counters: FederationCounters;
}

/** What the hand-offs need from the rest of the daemon. */
export interface FederationParts {
  store: JobStore;
  folders: JobFolders;
  jobs: Pick<JobService, "submit">;
  scheduler: Scheduler;
  limits: DelegationDeps["limits"];
  spawnChild: DelegationDeps["spawnChild"];
  registry: ExecutionDeps["registry"];
  defaults: ExecutionDeps["defaults"];
  leaseTtlMs: number;
  spillDelayMs: number;
}

export interface FederationSettings {
  nodeId: string;
  nodeName: string;
  /** ADVERTISE_URL, or derived from the bound address once the port is known (daemon.ts). */
  url: string;
  secret: string;
  peers: string[];
  advertIntervalMs: number;
  version: string;
  /** DISCOVERY: `mdns` also finds peers on the LAN by multicast DNS (discovery.ts). */
  discovery: "off" | "mdns";
}

/** How soon after a change an advert goes out (changes in a burst make one advert). */
const CHANGE_DEBOUNCE_MS = 250;
/** How long a stopping daemon waits on a peer for its last advert (an unreachable one will see it go). */
const DRAIN_ADVERT_TIMEOUT_MS = 1000;
/** How long a peer gets to take an advert. */
const ADVERT_TIMEOUT_MS = 2000;

export class Federation {
  readonly table: PeerTable;
  readonly bootId = crypto.randomUUID();
  private readonly client: PeerClient;
  private seq = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private changeTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  /** Set once the daemon stops: its last advert says so, and offers get a refusal. */
  private draining = false;
  /** Adverts that could not be delivered, by peer URL (the count shown in GET /peers is the receiver's). */
  advertsFailed = 0;

  private unsubscribe: (() => void) | null = null;
  private discovery: Discovery | null = null;
  readonly counters: FederationCounters = {
    offersAccepted: 0,
    offersRefused: 0,
    leasesExpired: 0,
    bytesReceived: 0,
  };
  readonly delegator: Delegator;
  readonly executions: Executions;
  private readonly scheduler: Scheduler;

  constructor(
    readonly settings: FederationSettings,
    private readonly parts: FederationParts,
    private readonly gpus: Gpu[],
    private readonly bus: EventBus,
    private readonly logger: Logger,
  ) {
    this.scheduler = parts.scheduler;
    this.table = new PeerTable(settings.peers);
    this.client = new PeerClient({ secret: settings.secret, nodeId: settings.nodeId });
    const common = {
      nodeId: settings.nodeId,
      store: parts.store,
      folders: parts.folders,
      table: this.table,
      client: this.client,
      bus,
      logger,
      counters: this.counters,
    };
    this.delegator = new Delegator({
      ...common,
      url: () => this.settings.url,
      leaseTtlMs: parts.leaseTtlMs,
      spillDelayMs: parts.spillDelayMs,
      scheduler: parts.scheduler,
      limits: parts.limits,
      spawnChild: parts.spawnChild,
    });
    this.executions = new Executions({
      registry: parts.registry,
      defaults: parts.defaults,
      ...common,
      jobs: parts.jobs,
      scheduler: parts.scheduler,
      draining: () => this.draining,
    });
  }

  /** Starts advertising, once the daemon listens at `url`. */
  start(url: string): void {
    this.settings.url = url;
    // A job starting or ending changes what this daemon can take: its peers hear of it soon.
    this.unsubscribe = this.bus.subscribe((event) => {
      if (event.type === "status") this.changed();
    });
    this.executions.start(this.parts.leaseTtlMs);
    this.delegator.start();
    this.schedule(0);
    if (this.settings.discovery === "mdns") {
      this.discovery = new Discovery({
        nodeId: this.settings.nodeId,
        nodeName: this.settings.nodeName,
        url,
        logger: this.logger,
        // Taken as an advert target unless already one: our adverts go to it soon.
        onFound: (found, nodeId) => {
          if (this.stopped || !this.table.addTarget(found, nodeId)) return false;
          this.changed();
          return true;
        },
      });
      this.discovery.start();
    }
  }

  /**
   * The daemon is stopping: its peers hear it at once (one last advert, `draining`), so they stop
   * placing work here now rather than when its adverts have been missing for 3 intervals, and an
   * offer that still comes is refused with a reason.
   */
  async drain(): Promise<void> {
    if (this.stopped || this.draining) return;
    this.draining = true;
    // No more of our jobs go out: a peer taking one now could not fetch its files once we close.
    this.delegator.stop();
    await this.advertise(DRAIN_ADVERT_TIMEOUT_MS);
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.discovery?.stop();
    this.discovery = null;
    this.delegator.stop();
    this.executions.stop();
    if (this.timer) clearTimeout(this.timer);
    if (this.changeTimer) clearTimeout(this.changeTimer);
  }

  /** Something this daemon advertises changed (a slot took or freed a job): advert soon. */
  changed(): void {
    if (this.stopped || this.changeTimer) return;
    this.changeTimer = setTimeout(() => {
      this.changeTimer = null;
      void this.advertise();
    }, CHANGE_DEBOUNCE_MS);
    this.changeTimer.unref();
  }

  /** This daemon as its peers see it. */
  advert(): Advert {
    const queues: Record<string, AdvertQueue> = {};
    const { slots } = this.scheduler;
    for (const queue of this.scheduler.queues()) {
      const own = slots.filter((s) => s.serves.includes(queue.name) && !(queue.name in s.fallback));
      if (own.length === 0) continue;
      // Busy: running a job, or promised to an offer taken whose job has not started yet (its
      // origin must not count that slot free while the job's files are still coming).
      const running = own.filter((s) => this.scheduler.runningOn(s.id) !== null).length;
      queues[queue.name] = {
        slots: own.length,
        busy: Math.min(own.length, running + this.executions.promised(queue.name)),
        waiting: queue.waiting,
      };
    }
    return {
      nodeId: this.settings.nodeId,
      bootId: this.bootId,
      seq: ++this.seq,
      name: this.settings.nodeName,
      url: this.settings.url,
      version: this.settings.version,
      queues,
      gpus: this.gpus.map((g) => ({ model: g.name, vram_mb: g.vramMb })),
      draining: this.draining,
      intervalMs: this.settings.advertIntervalMs,
    };
  }

  /** An advert from a peer (its signature already checked, and signed by the node it names). */
  receive(advert: Advert): void {
    if (advert.nodeId === this.settings.nodeId) return; // our own URL among PEERS
    const { isNew, restarted, taken } = this.table.receive(advert);
    if (taken) this.delegator.heard(advert.nodeId);
    if (isNew) this.logger.info("peer joined", { peer: advert.name, url: advert.url, node: advert.nodeId });
    if (restarted) {
      // Whatever it ran for us died with its old life: those jobs are placed again at once.
      this.logger.warn("peer restarted", { peer: advert.name, node: advert.nodeId });
      this.delegator.expireLeases(advert.nodeId);
    }
    // A peer we had not told about us yet hears from us at once.
    if (isNew) this.changed();
  }

  stats(): FederationStats {
    return {
      peers: this.peers().map((p) => ({
        name: p.advert?.name ?? p.url,
        state: p.state,
        lostAdverts: p.lostAdverts,
        delegatedTo: p.delegatedTo,
        delegatedFrom: p.delegatedFrom,
      })),
      counters: this.counters,
    };
  }

  peers(): (Peer & { state: string })[] {
    return this.table.all().map((peer) => ({ ...peer, state: this.table.state(peer) }));
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(async () => {
      await this.advertise();
      for (const nodeId of this.table.forgetGone()) {
        this.delegator.forget(nodeId);
        this.logger.info("peer forgotten: not heard from for 24 h", { node: nodeId });
      }
      const jitter = 1 + (Math.random() * 0.2 - 0.1);
      this.schedule(this.settings.advertIntervalMs * jitter);
    }, delayMs);
    this.timer.unref();
  }

  private async advertise(timeoutMs = ADVERT_TIMEOUT_MS): Promise<void> {
    if (this.stopped) return;
    const advert = this.advert();
    await Promise.all(
      this.table.targets().map(async (url) => {
        try {
          const res = await this.client.send(url, "POST", "/federation/advert", advert, timeoutMs);
          if (!res.ok) {
            this.advertsFailed++;
            if (this.table.dropDiscovered(url, true)) {
              const why = "a daemon found by mDNS refused our advert (another PEER_SECRET?): left alone";
              this.logger.info(why, { url, status: res.status });
            } else this.logger.warn("a peer refused our advert", { url, status: res.status });
          }
        } catch {
          this.advertsFailed++; // down or unreachable: its state will say so on its side
          this.table.dropDiscovered(url, false); // found by mDNS: until it is found again
        }
      }),
    );
  }
}
