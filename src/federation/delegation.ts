// The origin's side of a hand-off. A waiting job whose queue this node serves only through a
// fallback (or not at all) is offered to the best alive peer that serves it with slots of its own;
// an accepted offer claims the job for that peer under a lease (the attempt number is the fencing
// token). The peer pulls the job's files, runs it, and reports progress, log, outputs and outcome
// here, each fenced: a report for an attempt that is no longer current gets 409 and the peer drops
// the job. A lease that runs out (or a peer that restarts) puts the job back to waiting, as `lost`.
// The origin keeps the authoritative row: the client only ever talks to it.
import { appendFileSync } from "node:fs";
import type { EventBus } from "../events/bus.ts";
import { type AttemptCause, verdictFor } from "../jobs/policy.ts";
import { isTerminal, JobStatus } from "../jobs/states.ts";
import type { Logger } from "../log/logger.ts";
import { childOutcome, type Scheduler } from "../scheduler/scheduler.ts";
import type { ChildOutcome, ChildSpec } from "../sdk/protocol.ts";
import { outputsNotDurable } from "../storage/fsync.ts";
import type { JobFolders } from "../storage/job-folders.ts";
import { resolveInside } from "../storage/safe-path.ts";
import type { JobStore } from "../store/job-store.ts";
import type { AttemptRow, JobRow } from "../store/schema.ts";
import type { FederationCounters } from "./federation.ts";
import { type ManifestEntry, manifest, receiveFile } from "./files.ts";
import type { PeerClient } from "./peer-client.ts";
import type { Peer, PeerTable } from "./peers.ts";

/** What an origin sends a peer it offers a job to. */
export interface Offer {
  origin: { nodeId: string; url: string };
  uuid: string;
  /** The attempt the peer would run: the fencing token of every report. */
  attempt: number;
  leaseTtlMs: number;
  job: {
    name: string | null;
    process: string;
    scriptFile: string | null;
    inputFile: string | null;
    rootFile: string | null;
    entrypoint: string;
    queue: string;
    priority: number;
    timeLimitS: number;
    computeOnly: boolean;
    retry: number;
    paramsJson: string;
    configJson: string;
  };
}

/** How a delegated attempt ended, as its executor reports it. */
export interface Finish {
  cause: AttemptCause;
  exitCode: number | null;
  signal: string | null;
  peakRssKb: number | null;
  error: string | null;
  resultJson: string | null;
  stepsJson: string;
  progress: number | null;
}

export interface DelegationDeps {
  nodeId: string;
  url: () => string;
  leaseTtlMs: number;
  /** SPILL_DELAY: a job waiting this long here goes to a free peer even when a local slot serves its queue; 0: never. */
  spillDelayMs: number;
  store: JobStore;
  folders: JobFolders;
  scheduler: Pick<Scheduler, "queues" | "notify" | "slots">;
  table: PeerTable;
  client: PeerClient;
  bus: EventBus;
  logger: Logger;
  limits: { maxRetries: number; retryTimeLimitS: number; escalateTo: () => string | null };
  counters: FederationCounters;
  /** Creates (or finds again) the seq-th child of a job (daemon/child-jobs.ts): a delegated script's children live here. */
  spawnChild: (parent: JobRow, seq: number, spec: ChildSpec) => Promise<JobRow>;
}

/** The longest one wait request is held before it answers "not yet" (the executor asks again). */
const WAIT_HOLD_MS = 20_000;
const WAIT_POLL_MS = 200;

/** A report the origin does not take: the attempt is not (or no longer) this peer's. */
export class StaleAttempt extends Error {}

/** A request of the delegated script the origin refuses (the script gets it as its error). */
export class RequestRefused extends Error {}

const PLACE_EVERY_MS = 500;
const LEASE_CHECK_MS = 1000;

/** The key of a peer's queue in the per-peer counts below. */
const peerQueue = (nodeId: string, queue: string) => `${nodeId}/${queue}`;

export class Delegator {
  /** Jobs with an offer on the way, and to whom (the peer may pull their files already). */
  private readonly offered = new Map<string, { nodeId: string; attempt: number }>();
  /** Offers on the way per peer and queue, counted against its advertised free slots. */
  private readonly inFlight = new Map<string, number>();
  /** Steps of a delegated job's earlier attempts (the row's steps restart with each attempt). */
  private readonly earlierSteps = new Map<string, string>();
  /**
   * Per peer and queue, jobs it took from us since its last advert less those it finished since:
   * its advert's `busy` is that much too low (too high when negative). A new advert counts them
   * itself, and the tally starts again.
   */
  private readonly sinceAdvert = new Map<string, number>();
  /** Per peer and queue, refused an offer since its last advert: not offered again until the next. */
  private readonly refused = new Set<string>();
  /**
   * Queues a stand-in slot here left to peers when it last asked (prefersPeer). Once no peer takes
   * them any more (one froze or went quiet, or the offer to it failed), the scheduler is told:
   * nothing else would wake an idle node, and its jobs would wait for the next submission.
   */
  private readonly leftToPeers = new Set<string>();
  private timers: ReturnType<typeof setInterval>[] = [];
  private unsubscribe: (() => void) | null = null;
  private placing = false;
  /** Set by stop (the daemon drains or stops): no more offers go out. */
  private stopped = false;
  /** place() was asked for during a pass: one more pass follows. */
  private placeAgain = false;

  constructor(private readonly deps: DelegationDeps) {}

  start(): void {
    this.timers.push(
      setInterval(() => {
        void this.place();
        this.takeBackLeft();
      }, PLACE_EVERY_MS),
    );
    this.timers.push(setInterval(() => this.expireLeases(), LEASE_CHECK_MS));
    for (const timer of this.timers) timer.unref();
    this.unsubscribe = this.deps.bus.subscribe((event) => {
      if (event.type !== "status") return;
      if (event.to === JobStatus.PENDING || event.to === JobStatus.RETRY) void this.place();
      if (event.to === JobStatus.REVOKED && event.from === JobStatus.STARTED)
        void this.cancelOnPeer(event.job);
    });
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /**
   * Free slots a peer has for a queue: what its advert says, corrected by the jobs it took from us
   * and finished since (so the next job goes as soon as one ends, not one advert later), less the
   * offers on their way to it. An estimate: a peer with no free slot refuses the offer.
   */
  private free(peer: Peer, queue: string): number {
    const q = peer.advert?.queues[queue];
    if (!q) return 0;
    const key = peerQueue(peer.advert!.nodeId, queue);
    const free = Math.min(q.slots, q.slots - q.busy - (this.sinceAdvert.get(key) ?? 0));
    return free - (this.inFlight.get(key) ?? 0);
  }

  /** A new advert from `nodeId`: its counts are current, and waiting work may fit there now. */
  heard(nodeId: string): void {
    this.forget(nodeId);
    void this.place();
  }

  /** Drops what is counted for a peer's queues (its new advert counts them, or it is forgotten). */
  forget(nodeId: string): void {
    const ofPeer = (key: string) => key.startsWith(peerQueue(nodeId, ""));
    for (const key of this.sinceAdvert.keys()) if (ofPeer(key)) this.sinceAdvert.delete(key);
    for (const key of this.refused) if (ofPeer(key)) this.refused.delete(key);
  }

  private tally(nodeId: string, queue: string, change: number): void {
    const key = peerQueue(nodeId, queue);
    this.sinceAdvert.set(key, (this.sinceAdvert.get(key) ?? 0) + change);
  }

  /**
   * Whether `queue`'s work should go to a peer now: one advertises a free slot for it, or an offer of
   * it is on its way (the job must not be taken by a stand-in slot here meanwhile). A fallback slot
   * here then leaves the queue alone.
   */
  prefersPeer(queue: string): boolean {
    const prefers = this.peerTakes(queue);
    if (prefers) this.leftToPeers.add(queue);
    return prefers;
  }

  private peerTakes(queue: string): boolean {
    if ([...this.inFlight.keys()].some((key) => key.endsWith(`/${queue}`))) return true;
    return this.deps.table.capable(queue).some((peer) => this.free(peer, queue) > 0);
  }

  /** Queues left to peers that no peer takes now go back to this node's stand-in slots. */
  private takeBackLeft(): void {
    for (const queue of this.leftToPeers) {
      if (this.peerTakes(queue)) continue;
      this.leftToPeers.delete(queue);
      this.deps.scheduler.notify();
    }
  }

  /** The best peer for a job: free slots first, then fewest waiting, then (gpuhigh) most VRAM. */
  private choose(queue: string, exclude: Set<string>): Peer | null {
    const vram = (p: Peer) => Math.max(0, ...(p.advert?.gpus.map((g) => g.vram_mb) ?? [0]));
    const candidates = this.deps.table
      .capable(queue)
      .filter(
        (p) =>
          !exclude.has(p.advert!.nodeId) &&
          !this.refused.has(peerQueue(p.advert!.nodeId, queue)) &&
          this.free(p, queue) > 0,
      )
      .sort(
        (a, b) =>
          this.free(b, queue) - this.free(a, queue) ||
          a.advert!.queues[queue]!.waiting - b.advert!.queues[queue]!.waiting ||
          (queue === "gpuhigh" ? vram(b) - vram(a) : 0),
      );
    return candidates[0] ?? null;
  }

  /**
   * Passes until nothing more is placed: a pass offers the next waiting job of each queue served
   * here only by a stand-in (or not at all); another follows while offers are taken or when asked
   * for during the pass (a burst of submissions goes out at the speed of offers, not one a tick).
   */
  async place(): Promise<void> {
    if (this.stopped) return;
    if (this.placing) {
      this.placeAgain = true;
      return;
    }
    this.placing = true;
    try {
      for (;;) {
        this.placeAgain = false;
        const delegated = await this.placeOnce();
        if (this.stopped || (!this.placeAgain && delegated === 0)) break;
      }
    } finally {
      this.placing = false;
    }
  }

  /** One pass; resolves to the number of jobs it delegated. */
  private async placeOnce(): Promise<number> {
    const offers: Promise<boolean>[] = [];
    for (const queue of this.deps.scheduler.queues()) {
      // Load sharing: a queue this node serves itself goes to a peer too once its oldest job has
      // waited past SPILL_DELAY while a peer has a free slot of its own for it.
      const { spillDelayMs } = this.deps;
      const spill = spillDelayMs > 0 && (queue.oldestWaitS ?? 0) * 1000 >= spillDelayMs;
      if (queue.waiting === 0 || (queue.served.how === "local" && !spill)) continue;
      const job = this.deps.store.nextWaiting(queue.name);
      if (!job || this.offered.has(job.uuid)) continue;
      const peer = this.choose(queue.name, this.deps.store.failedOn(job.id));
      if (peer) offers.push(this.offer(job, peer));
    }
    return (await Promise.all(offers)).filter(Boolean).length;
  }

  /** Offers `job` to `peer`; resolves to whether the peer took it (and the job is now its). */
  private async offer(job: JobRow, peer: Peer): Promise<boolean> {
    const { store, client, logger, leaseTtlMs } = this.deps;
    const nodeId = peer.advert!.nodeId;
    const attempt = store.attemptsOf(job.id).length + 1;
    const key = peerQueue(nodeId, job.queue);
    this.offered.set(job.uuid, { nodeId, attempt });
    this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1);
    const offer: Offer = {
      origin: { nodeId: this.deps.nodeId, url: this.deps.url() },
      uuid: job.uuid,
      attempt,
      leaseTtlMs,
      job: {
        name: job.name,
        process: job.process,
        scriptFile: job.scriptFile,
        inputFile: job.inputFile,
        rootFile: job.rootFile,
        entrypoint: job.entrypoint,
        queue: job.queue,
        priority: job.priority,
        timeLimitS: job.timeLimitS,
        computeOnly: job.computeOnly,
        retry: job.retry,
        paramsJson: job.paramsJson,
        configJson: job.configJson,
      },
    };
    try {
      const res = await client.send(peer.url, "POST", "/federation/offers", offer);
      if (res.status !== 200) {
        this.deps.counters.offersRefused++;
        this.refused.add(key); // our count of its free slots was wrong: wait for its next advert
        logger.debug("peer refused an offer", { job: job.uuid, peer: peer.advert!.name, status: res.status });
        return false;
      }
      const claimed = store.claimForPeer(
        job.uuid,
        attempt,
        `peer:${peer.advert!.name}`,
        nodeId,
        Date.now() + leaseTtlMs,
      );
      if (!claimed) {
        // Cancelled or taken meanwhile: the peer drops it.
        await client
          .send(peer.url, "POST", `/federation/jobs/${job.uuid}/cancel`, { attempt })
          .catch(() => {});
        return false;
      }
      this.deps.counters.offersAccepted++;
      this.tally(nodeId, job.queue, 1);
      this.earlierSteps.set(job.uuid, job.stepsJson ?? "[]");
      peer.delegatedTo++;
      logger.info("job delegated", { job: job.uuid, attempt, peer: peer.advert!.name, queue: job.queue });
      return true;
    } catch (error) {
      logger.warn("offer failed", { job: job.uuid, peer: peer.url, error: String(error) });
      return false;
    } finally {
      this.offered.delete(job.uuid);
      const left = (this.inFlight.get(key) ?? 1) - 1;
      if (left > 0) this.inFlight.set(key, left);
      else this.inFlight.delete(key);
    }
  }

  /** A report's fence: the job's current attempt is `attempt`, run by `nodeId`. */
  private current(uuid: string, attempt: number, nodeId: string) {
    const found = this.deps.store.delegatedAttempt(uuid, attempt, nodeId);
    if (!found) throw new StaleAttempt(`Attempt ${attempt} of job '${uuid}' is not yours (anymore)`);
    return found;
  }

  /** Whether `nodeId` may read this job's files: it was offered the job, or runs it. */
  private mayRead(uuid: string, nodeId: string): boolean {
    if (this.offered.get(uuid)?.nodeId === nodeId) return true;
    const job = this.deps.store.get(uuid);
    if (!job?.currentAttemptId || job.status !== JobStatus.STARTED) return false;
    return this.deps.store
      .attemptsOf(job.id)
      .some((a) => a.id === job.currentAttemptId && a.nodeId === nodeId);
  }

  /** The job's script and inputs, for the peer that runs it. */
  async files(uuid: string, nodeId: string): Promise<ManifestEntry[]> {
    if (!this.mayRead(uuid, nodeId)) throw new StaleAttempt(`Job '${uuid}' is not yours`);
    return manifest(this.deps.folders.dir(uuid), ["script", "inputs"]);
  }

  /** One of those files, by its manifest path. */
  filePath(uuid: string, nodeId: string, path: string): string {
    if (!this.mayRead(uuid, nodeId)) throw new StaleAttempt(`Job '${uuid}' is not yours`);
    if (!/^(script|inputs)\//.test(path)) throw new StaleAttempt(`'${path}' is not one of the job's files`);
    return resolveInside(this.deps.folders.dir(uuid), path);
  }

  renew(uuid: string, attempt: number, nodeId: string): number {
    const { attempt: row } = this.current(uuid, attempt, nodeId);
    const until = Date.now() + this.deps.leaseTtlMs;
    this.deps.store.renewLease(row.id, until);
    return until;
  }

  progress(
    uuid: string,
    attempt: number,
    nodeId: string,
    report: { progress: number; total: number; stepsJson: string },
  ): void {
    const { job, attempt: row } = this.current(uuid, attempt, nodeId);
    const steps = [...JSON.parse(this.earlierSteps.get(uuid) ?? "[]"), ...JSON.parse(report.stepsJson)];
    if (this.deps.store.saveProgress(job.id, row.id, report.progress, JSON.stringify(steps))) {
      this.deps.bus.publish({
        type: "progress",
        job: uuid,
        progress: report.progress,
        total: report.total,
        steps,
        at: Date.now(),
      });
    }
  }

  log(uuid: string, attempt: number, nodeId: string, bytes: Uint8Array): void {
    this.current(uuid, attempt, nodeId);
    appendFileSync(this.deps.folders.logFile(uuid), bytes);
  }

  /** One output file, streamed into outputs/ and hash-checked before it is in place. */
  async output(
    uuid: string,
    attempt: number,
    nodeId: string,
    path: string,
    body: ReadableStream<Uint8Array> | null,
    sha256: string,
  ): Promise<number> {
    this.current(uuid, attempt, nodeId);
    const dest = resolveInside(this.deps.folders.outputsDir(uuid), path);
    const size = await receiveFile(body, dest, sha256, true);
    this.deps.counters.bytesReceived += size;
    return size;
  }

  /**
   * The attempt's end: the origin's policy decides what it means (a retry may go elsewhere). A
   * success stands once the outputs received here are on disk, as a local job's (storage/fsync.ts).
   */
  async finish(uuid: string, attempt: number, nodeId: string, ended: Finish): Promise<JobStatus> {
    this.current(uuid, attempt, nodeId);
    let end = ended;
    if (end.cause === "success") {
      try {
        await this.deps.folders.syncOutputs(uuid);
      } catch (error) {
        end = { ...end, cause: "disk", resultJson: null, error: outputsNotDurable(error) };
      }
    }
    // Asked again: the lease may have run out while the disk flushed.
    const { job, attempt: row } = this.current(uuid, attempt, nodeId);
    const { limits, store } = this.deps;
    if (end.cause === "stopped") return this.handedBack(uuid, row, nodeId);
    const verdict = verdictFor({
      cause: end.cause,
      queue: row.queue,
      retry: job.retry,
      maxRetries: limits.maxRetries,
      escalateTo: limits.escalateTo(),
      retryTimeLimitS: limits.retryTimeLimitS,
    });
    const steps = JSON.stringify([
      ...JSON.parse(this.earlierSteps.get(uuid) ?? "[]"),
      ...JSON.parse(end.stepsJson),
    ]);
    store.finishAttempt(
      row.id,
      {
        cause: end.cause,
        exitCode: end.exitCode,
        signal: end.signal,
        peakRssKb: end.peakRssKb,
        error: end.error,
        stepsJson: end.stepsJson,
        note: verdict.note ?? null,
      },
      {
        status: verdict.status,
        progress: verdict.status === JobStatus.SUCCESS ? 100 : end.progress,
        stepsJson: steps,
        resultJson: end.cause === "success" ? end.resultJson : null,
        error: end.error,
        nextQueue: verdict.nextQueue,
        nextTimeLimitS: verdict.nextTimeLimitS,
      },
    );
    this.earlierSteps.delete(uuid);
    this.tally(nodeId, row.queue, -1); // its slot there is free: the next job may go at once
    this.deps.logger.info("delegated attempt ended", {
      job: uuid,
      attempt,
      cause: end.cause,
      status: verdict.status,
    });
    this.deps.scheduler.notify();
    void this.place();
    return verdict.status;
  }

  /**
   * The peer is stopping and will not run (or finish) the job: it waits again at its old place
   * and is placed at once, elsewhere (a stopping peer drains), without spending a retry.
   */
  private handedBack(uuid: string, row: AttemptRow, nodeId: string): JobStatus {
    this.deps.store.requeueAttempt(
      row.id,
      `peer ${nodeId} stopped before the job ended; it runs again`,
      "stopped",
    );
    this.earlierSteps.delete(uuid);
    this.tally(nodeId, row.queue, -1);
    // Not offered to it again (its draining advert may not have come here): until its next advert.
    this.refused.add(peerQueue(nodeId, row.queue));
    this.deps.logger.info("delegated job handed back by its stopping peer", {
      job: uuid,
      attempt: row.number,
    });
    this.deps.scheduler.notify();
    void this.place();
    return JobStatus.PENDING;
  }

  /** A child job the delegated script asks for: created here, placed by the same rules as any job. */
  async spawn(uuid: string, attempt: number, nodeId: string, seq: number, spec: ChildSpec): Promise<string> {
    const { job } = this.current(uuid, attempt, nodeId);
    return (await this.deps.spawnChild(job, seq, spec)).uuid;
  }

  /**
   * The delegated script waits on jobs of this node: answered once they have all ended, or after
   * `timeoutMs` (or at most WAIT_HOLD_MS) with where each one is; `done` says which.
   */
  async wait(
    uuid: string,
    attempt: number,
    nodeId: string,
    ids: string[],
    timeoutMs: number | undefined,
  ): Promise<{ done: boolean; outcomes: ChildOutcome[] }> {
    const deadline = Date.now() + Math.min(timeoutMs ?? WAIT_HOLD_MS, WAIT_HOLD_MS);
    for (;;) {
      this.current(uuid, attempt, nodeId);
      const jobs = ids.map((id) => {
        const job = this.deps.store.get(id);
        if (!job) throw new RequestRefused(`Job '${id}' does not exist`);
        return job;
      });
      const done = jobs.every((job) => isTerminal(job.status));
      if (done || Date.now() >= deadline) return { done, outcomes: jobs.map(childOutcome) };
      await Bun.sleep(WAIT_POLL_MS);
    }
  }

  /**
   * Leases that ran out (or every lease of a peer that restarted): the job waits again, `lost`, and
   * the scheduler is told, as for any job that starts waiting: a stand-in slot here may take it (the
   * delegator hears of it through the bus), and an idle daemon has nothing else that would wake it.
   */
  expireLeases(nodeId?: string): void {
    let requeued = false;
    for (const { job, attempt } of this.deps.store.expiredLeases(Date.now(), nodeId)) {
      const why = nodeId ? "its peer restarted" : "its peer's lease expired";
      if (this.deps.store.requeueAttempt(attempt.id, `${why}; it runs again`, "lost")) {
        requeued = true;
        this.deps.counters.leasesExpired++;
        // Its next attempt starts from the steps now on the row (the lost attempt's are gone).
        this.earlierSteps.delete(job.uuid);
        this.deps.logger.warn("delegated job lost", {
          job: job.uuid,
          attempt: attempt.number,
          node: attempt.nodeId,
          why,
        });
      }
    }
    if (requeued) this.deps.scheduler.notify();
  }

  /** A job cancelled here while a peer runs it: the peer kills it. */
  private async cancelOnPeer(uuid: string): Promise<void> {
    const job = this.deps.store.get(uuid);
    if (!job?.currentAttemptId || !isTerminal(job.status)) return;
    const attempt = this.deps.store.attemptsOf(job.id).find((a) => a.id === job.currentAttemptId);
    if (!attempt?.nodeId || attempt.nodeId === this.deps.nodeId || attempt.leaseExpiresAt === null) return;
    const peer = this.deps.table.get(attempt.nodeId);
    if (!peer) return;
    await this.deps.client
      .send(peer.url, "POST", `/federation/jobs/${uuid}/cancel`, { attempt: attempt.number })
      .catch((error) =>
        this.deps.logger.warn("could not tell a peer to cancel", { job: uuid, error: String(error) }),
      );
  }
}
