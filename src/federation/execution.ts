// The executor's side of a hand-off: a job a peer (its origin) offered and this node accepted. It is
// pulled here (script and inputs, hash-checked), inserted as a local job and run by this node's own
// engine, slots and limits, like any other job; what it does is reported to the origin as it
// happens (progress, log), and at its end its outputs go home before its outcome does. The origin
// decides retries, so a delegated job never retries here. Every report carries the attempt number:
// a 409 means the origin moved on, and the job is killed here. So is a job whose origin cannot be
// reached for a whole lease, or that the origin cancels. A restarted executor drops what it was
// running for others: their leases run out and their origins place them again.
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { QUEUE_NAME } from "../config/parse.ts";
import type { JobService } from "../daemon/job-service.ts";
import type { EventBus } from "../events/bus.ts";
import { compileJob, type JobDefinition } from "../jobs/compile.ts";
import { isTerminal, JobStatus } from "../jobs/states.ts";
import type { WorkerConfig } from "../jobs/worker-config.ts";
import type { Logger } from "../log/logger.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import { PROCESS_NAME, type ProcessRegistry } from "../scripts/registry.ts";
import type { ChildOutcome, ChildSpec } from "../sdk/protocol.ts";
import type { JobFolders } from "../storage/job-folders.ts";
import { resolveInside, safeBaseName } from "../storage/safe-path.ts";
import type { JobStore } from "../store/job-store.ts";
import type { Finish, Offer } from "./delegation.ts";
import type { FederationCounters } from "./federation.ts";
import { type ManifestEntry, manifest, receiveFile } from "./files.ts";
import type { PeerClient } from "./peer-client.ts";
import type { PeerTable } from "./peers.ts";

/** The origin refused a request of the job's (the script gets it as an error). */
class OriginRefused extends Error {}

/** The origin did not answer for a whole lease. */
class OriginGone extends Error {}

interface Execution {
  key: string;
  offer: Offer;
  /** The local job that runs it (null while its files are pulled). */
  localUuid: string | null;
  /** Last time the origin answered a renewal. */
  renewedAt: number;
  logOffset: number;
  ended: boolean;
}

export interface ExecutionDeps {
  nodeId: string;
  store: JobStore;
  folders: JobFolders;
  jobs: Pick<JobService, "submit">;
  scheduler: Pick<Scheduler, "revoke" | "slots" | "runningOn" | "notify">;
  table: PeerTable;
  client: PeerClient;
  bus: EventBus;
  logger: Logger;
  draining: () => boolean;
  counters: FederationCounters;
  /** This node's processes (an offered job that names one runs this node's copy). */
  registry: Pick<ProcessRegistry, "get" | "source">;
  defaults: WorkerConfig;
}

const LOG_FORWARD_MS = 500;
/** The most log bytes one report carries. */
const LOG_CHUNK = 256 * 1024;

export class Executions {
  private readonly byKey = new Map<string, Execution>();
  private readonly byLocal = new Map<string, Execution>();
  /** Outcomes on their way home (finish: log, outputs, then the outcome). */
  private readonly reporting = new Set<Promise<void>>();
  private timers: ReturnType<typeof setInterval>[] = [];
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly deps: ExecutionDeps) {}

  private leaseTtlMs = 30_000;

  /** Drops the delegated jobs a previous life of this daemon had taken, then starts its timers. */
  start(leaseTtlMs: number): void {
    this.leaseTtlMs = leaseTtlMs;
    for (const job of this.deps.store.unfinishedFrom(this.deps.nodeId)) this.deps.scheduler.revoke(job.uuid);
    this.timers.push(setInterval(() => void this.renewAll(leaseTtlMs), Math.max(500, leaseTtlMs / 3)));
    this.timers.push(setInterval(() => void this.forwardLogs(), LOG_FORWARD_MS));
    for (const timer of this.timers) timer.unref();
    this.unsubscribe = this.deps.bus.subscribe((event) => {
      const execution = this.byLocal.get(event.job);
      if (!execution) return;
      if (event.type === "progress") {
        void this.report(execution, "progress", {
          progress: event.progress,
          total: event.total,
          stepsJson: JSON.stringify(event.steps),
        });
      } else if (isTerminal(event.to)) {
        const reporting = this.finish(execution);
        this.reporting.add(reporting);
        void reporting.finally(() => this.reporting.delete(reporting));
      }
    });
  }

  /**
   * The daemon is stopping, its running jobs have ended or been killed: waits (at most
   * `timeoutMs`) for the outcomes of those that ended to reach their origins, which otherwise
   * would wait out the lease and run again a job that had finished here. Every other job taken
   * for a peer (killed at the end of the grace, never started, or its files still coming) will not
   * run here: it is handed back, so its origin places it again now instead of after the lease.
   */
  async settle(timeoutMs: number): Promise<void> {
    const handBacks = [...this.byKey.values()]
      .filter((execution) => !this.endedHere(execution))
      .map((execution) => this.handBack(execution, timeoutMs));
    if (this.reporting.size === 0 && handBacks.length === 0) return;
    await Promise.race([Promise.allSettled([...this.reporting, ...handBacks]), Bun.sleep(timeoutMs)]);
  }

  /** Its job ended here: its outcome is (or is about to be) on its way home. */
  private endedHere(execution: Execution): boolean {
    if (execution.ended) return true;
    if (execution.localUuid === null) return false;
    const status = this.deps.store.get(execution.localUuid)?.status;
    return status !== undefined && isTerminal(status);
  }

  /**
   * Tells the origin, once, that this attempt was stopped here (`stopped`: the job runs again, and
   * no retry is spent). The local copy stays waiting and is cancelled at this daemon's next start.
   */
  private async handBack(execution: Execution, timeoutMs: number): Promise<void> {
    execution.ended = true;
    // The attempt's log so far (the kill note among it) goes home first, as with any outcome.
    await this.forwardLogs(execution);
    this.forget(execution);
    const { offer } = execution;
    try {
      const res = await this.deps.client.send(
        this.originUrl(offer),
        "POST",
        attemptPath(offer, "finish"),
        withoutRun("stopped", null),
        timeoutMs,
      );
      // 409: the origin had moved on already (cancelled, or the lease ran out): nothing to hand back.
      if (res.ok || res.status === 409) {
        this.deps.logger.info("delegated job handed back: this node is stopping", {
          job: offer.uuid,
          status: res.status,
        });
      } else {
        this.deps.logger.warn("the origin refused a delegated job handed back", {
          job: offer.uuid,
          status: res.status,
        });
      }
    } catch (error) {
      // Its origin is unreachable: the lease there runs out and the job is placed again then.
      this.deps.logger.warn("could not hand a delegated job back", { job: offer.uuid, error: String(error) });
    }
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.unsubscribe?.();
  }

  get running(): number {
    return this.byKey.size;
  }

  /**
   * Offers accepted for `queue` whose job has not started here yet: each holds a slot it will take.
   * One whose job has ended (its outputs and outcome on their way home) holds none: its origin,
   * told of the end, may offer the next job before that report is done.
   */
  promised(queue: string): number {
    const waitingHere = (e: Execution) => {
      if (e.ended) return false;
      if (e.localUuid === null) return true; // its files are still coming
      const status = this.deps.store.get(e.localUuid)?.status;
      return status === JobStatus.PENDING || status === JobStatus.RETRY;
    };
    return [...this.byKey.values()].filter((e) => e.offer.job.queue === queue && waitingHere(e)).length;
  }

  /** Slots of this node's own that serve `queue` and are free, less those promised to offers. */
  private free(queue: string): number {
    const own = this.deps.scheduler.slots.filter((s) => s.serves.includes(queue) && !(queue in s.fallback));
    const idle = own.filter((s) => this.deps.scheduler.runningOn(s.id) === null).length;
    return idle - this.promised(queue);
  }

  /** An offer: accepted when a slot of its queue is free here (the same offer twice runs once). */
  accept(offer: Offer, fromNode: string): { accepted: true } | { accepted: false; reason: string } {
    if (offer.origin.nodeId !== fromNode) return { accepted: false, reason: "the offer is not the signer's" };
    const unsafe = unsafeOffer(offer);
    if (unsafe) return { accepted: false, reason: unsafe };
    const key = `${offer.origin.nodeId}/${offer.uuid}/${offer.attempt}`;
    if (this.byKey.has(key)) return { accepted: true };
    if (this.deps.draining()) return { accepted: false, reason: "this node is draining" };
    if (this.free(offer.job.queue) <= 0)
      return { accepted: false, reason: `no free slot for queue '${offer.job.queue}'` };
    const execution: Execution = {
      key,
      offer,
      localUuid: null,
      renewedAt: Date.now(),
      logOffset: 0,
      ended: false,
    };
    this.byKey.set(key, execution);
    const origin = this.deps.table.get(offer.origin.nodeId);
    if (origin) origin.delegatedFrom++;
    void this.prepare(execution);
    return { accepted: true };
  }

  /** Pulls the job's files from its origin into a staging folder and starts it here. */
  private async prepare(execution: Execution): Promise<void> {
    const { offer } = execution;
    const { client, folders, logger } = this.deps;
    const stage = folders.stage();
    try {
      // An origin that is restarting is waited for (untilReachable), as for every report.
      const list = await this.untilReachable(execution, () =>
        client.send(this.originUrl(offer), "GET", `/federation/jobs/${offer.uuid}/files`),
      );
      if (!list.ok) throw new Error(`the origin answered ${list.status} for the job's files`);
      for (const entry of (await list.json()) as ManifestEntry[]) {
        const res = await this.untilReachable(execution, () =>
          client.send(
            this.originUrl(offer),
            "GET",
            `/federation/jobs/${offer.uuid}/files/${entry.path}`,
            undefined,
            600_000,
          ),
        );
        if (!res.ok) throw new Error(`the origin answered ${res.status} for ${entry.path}`);
        this.deps.counters.bytesReceived += await receiveFile(
          res.body,
          resolveInside(stage.dir, entry.path),
          entry.sha256,
          false,
        );
      }
      if (!this.byKey.has(execution.key)) throw new Error("cancelled while its files came");
      const { job } = await this.deps.jobs.submit(stage, {
        definition: this.compile(offer, stage.scriptDir),
        scriptFile: offer.job.scriptFile,
        inputFile: offer.job.inputFile,
        originNode: offer.origin.nodeId,
        // Followed from before it can start: a short job ends before submit resolves (its events,
        // its end, and its script's first requests all look the execution up by the local job).
        onStored: (stored) => {
          execution.localUuid = stored.uuid;
          if (!execution.ended) this.byLocal.set(stored.uuid, execution);
        },
      });
      if (execution.ended) return; // handed back while it was submitted: it stays waiting here
      logger.info("delegated job accepted", {
        job: offer.uuid,
        local: job.uuid,
        origin: this.originUrl(offer),
        attempt: offer.attempt,
      });
    } catch (error) {
      stage.discard();
      if (execution.ended) return; // handed back or dropped meanwhile: its origin knows
      logger.warn("a delegated job could not start", { job: offer.uuid, error: String(error) });
      await this.end(
        execution,
        withoutRun(
          "spawn",
          `The job could not start on peer ${this.deps.nodeId}: ${(error as Error).message}`,
        ),
      );
    }
  }

  /**
   * The offered job through the one compiler (jobs/compile.ts): its entrypoint is checked in the
   * script as it arrived (or in this node's process of that name), and its config is validated here
   * as any submission's. The origin already merged the script's declaration: its values stand.
   */
  private compile(offer: Offer, scriptDir: string): JobDefinition {
    const { job } = offer;
    let source: string;
    let fileName: string;
    if (job.process === "custom") {
      fileName = resolveInside(scriptDir, job.scriptFile ?? "");
      source = readFileSync(fileName, "utf8");
    } else {
      const registered = this.deps.registry.get(job.process);
      if (!registered) throw new Error(`the process '${job.process}' is not registered on this peer`);
      source = this.deps.registry.source(registered);
      fileName = registered.path;
    }
    return compileJob(
      {
        script: { process: job.process, source, fileName },
        name: job.name,
        params: JSON.parse(job.paramsJson),
        config: {
          entrypoint: job.entrypoint,
          queue: job.queue,
          time_limit: job.timeLimitS,
          priority: job.priority,
          compute_only: job.computeOnly,
          root_file: job.rootFile,
        },
        inherit: {},
      },
      this.deps.defaults,
    );
  }

  /** A signed report to the origin; a 409 (the attempt is no longer this node's) kills the job here. */
  private async report(execution: Execution, what: string, body: unknown): Promise<boolean> {
    const { offer } = execution;
    try {
      const res = await this.deps.client.send(this.originUrl(offer), "POST", attemptPath(offer, what), body);
      if (res.status === 409) {
        this.drop(execution, "the origin moved on (409)");
        return false;
      }
      if (res.ok) execution.renewedAt = Date.now();
      return res.ok;
    } catch {
      return false; // unreachable: the renewals decide when to give up
    }
  }

  private async renewAll(leaseTtlMs: number): Promise<void> {
    await Promise.all(
      [...this.byKey.values()].map(async (execution) => {
        if (execution.ended) return;
        await this.report(execution, "renew", {});
        if (this.byKey.has(execution.key) && Date.now() - execution.renewedAt > leaseTtlMs) {
          this.drop(execution, "its origin could not be reached for a whole lease");
        }
      }),
    );
  }

  /** Sends what the local job log gained since the last time. */
  private async forwardLogs(execution?: Execution): Promise<void> {
    const list = execution ? [execution] : [...this.byLocal.values()];
    for (const e of list) {
      if (!e.localUuid) continue;
      let fd: number;
      try {
        fd = openSync(this.deps.folders.logFile(e.localUuid), "r");
      } catch {
        continue;
      }
      try {
        for (;;) {
          const chunk = Buffer.alloc(LOG_CHUNK);
          const n = readSync(fd, chunk, 0, LOG_CHUNK, e.logOffset);
          if (n <= 0) break;
          const res = await this.deps.client
            .sendBytes(this.originUrl(e.offer), "POST", attemptPath(e.offer, "log"), chunk.subarray(0, n))
            .catch(() => null);
          if (!res?.ok) break;
          e.logOffset += n;
        }
      } finally {
        closeSync(fd);
      }
    }
  }

  /** The local job ended: its log, then its outputs, then its outcome go home. */
  private async finish(execution: Execution): Promise<void> {
    if (execution.ended || !execution.localUuid) return;
    const job = this.deps.store.get(execution.localUuid)!;
    const attempt = this.deps.store.attemptsOf(job.id).at(-1);
    await this.forwardLogs(execution);
    const { offer } = execution;
    let cause = attempt?.exitCause ?? "exit";
    let error = job.error;
    if (cause === "success") {
      try {
        const outputs = await manifest(this.deps.folders.outputsDir(job.uuid), [""]);
        for (const file of outputs) {
          const res = await this.untilReachable(execution, () =>
            this.deps.client.sendFile(
              this.originUrl(offer),
              attemptPath(offer, `outputs/${file.path}`),
              `${this.deps.folders.outputsDir(job.uuid)}/${file.path}`,
              file.sha256,
            ),
          );
          if (res.status === 409) return this.drop(execution, "the origin moved on (409)");
          if (!res.ok) throw new Error(`the origin answered ${res.status} for output ${file.path}`);
        }
      } catch (err) {
        if (err instanceof OriginGone) return this.drop(execution, err.message);
        // The outputs did not make it home: the origin must not see SUCCESS without them.
        cause = "spawn";
        error = `The outputs could not be sent to the origin: ${(err as Error).message}`;
      }
    }
    await this.end(execution, {
      cause,
      exitCode: attempt?.exitCode ?? null,
      signal: attempt?.signal ?? null,
      peakRssKb: attempt?.peakRssKb ?? null,
      error,
      resultJson: cause === "success" ? job.resultJson : null,
      stepsJson: attempt?.stepsJson ?? "[]",
      progress: job.progress,
    });
  }

  /** The outcome, sent until the origin takes it (it may be restarting), or a lease's time without it. */
  private async end(execution: Execution, finish: Finish): Promise<void> {
    execution.ended = true;
    const { offer } = execution;
    try {
      await this.untilReachable(execution, () =>
        this.deps.client.send(this.originUrl(offer), "POST", attemptPath(offer, "finish"), finish, 30_000),
      );
    } catch (error) {
      this.deps.logger.warn("a delegated job's outcome never reached its origin", {
        job: offer.uuid,
        error: String(error),
      });
    }
    this.forget(execution);
  }

  /**
   * Sends until the origin answers (any status): an origin that is restarting is waited for, one
   * silent for a whole lease since it last answered is given up on (its lease has run out there).
   */
  private async untilReachable(execution: Execution, send: () => Promise<Response>): Promise<Response> {
    for (;;) {
      try {
        const res = await send();
        execution.renewedAt = Date.now();
        return res;
      } catch (error) {
        if (Date.now() - execution.renewedAt > this.leaseTtlMs) {
          throw new OriginGone(
            `its origin could not be reached for a whole lease (${(error as Error).message})`,
          );
        }
        await Bun.sleep(1000);
      }
    }
  }

  /** Where the origin is now: the URL of its latest advert (it may have moved), else the offer's. */
  private originUrl(offer: Offer): string {
    return this.deps.table.get(offer.origin.nodeId)?.url ?? offer.origin.url;
  }

  /** A delegated job's child job, created at its origin. */
  async spawn(localUuid: string, seq: number, spec: ChildSpec): Promise<string> {
    const execution = this.byLocal.get(localUuid);
    if (!execution) throw new Error("this job is no longer run for its origin");
    const res = await this.call(execution, "spawn", { seq, spec });
    return ((await res.json()) as { uuid: string }).uuid;
  }

  /** A delegated job waits on jobs of its origin: asked again until they end or its timeout passes. */
  async wait(localUuid: string, ids: string[], timeoutMs: number | undefined): Promise<ChildOutcome[]> {
    const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;
    for (;;) {
      const execution = this.byLocal.get(localUuid);
      if (!execution) throw new Error("this job is no longer run for its origin");
      const left = deadline - Date.now();
      const res = await this.call(execution, "wait", {
        ids,
        timeoutMs: Number.isFinite(left) ? Math.max(0, left) : undefined,
      }).catch(async (error: Error) => {
        if (error instanceof OriginRefused) throw error;
        await Bun.sleep(1000); // unreachable for now: the renewals decide when to give up
        return null;
      });
      if (!res) continue;
      const answer = (await res.json()) as { done: boolean; outcomes: ChildOutcome[] };
      if (answer.done || Date.now() >= deadline) return answer.outcomes;
    }
  }

  /** A request the job's script made, answered by the origin; a refusal is the script's error. */
  private async call(execution: Execution, what: string, body: unknown): Promise<Response> {
    const { offer } = execution;
    const res = await this.deps.client.send(
      this.originUrl(offer),
      "POST",
      attemptPath(offer, what),
      body,
      30_000,
    );
    if (res.status === 409) {
      this.drop(execution, "the origin moved on (409)");
      throw new OriginRefused("the origin no longer runs this job here");
    }
    if (!res.ok) {
      const detail = ((await res.json().catch(() => null)) as { detail?: { details?: string } } | null)
        ?.detail?.details;
      throw new OriginRefused(detail ?? `the origin answered ${res.status}`);
    }
    return res;
  }

  /** The origin cancelled (or moved on): the local job is killed, nothing more is reported. */
  cancel(originNode: string, uuid: string, attempt: number): boolean {
    const execution = this.byKey.get(`${originNode}/${uuid}/${attempt}`);
    if (!execution) return false;
    this.drop(execution, "cancelled by its origin");
    return true;
  }

  private drop(execution: Execution, why: string): void {
    execution.ended = true;
    this.forget(execution);
    if (execution.localUuid) this.deps.scheduler.revoke(execution.localUuid);
    this.deps.logger.warn("delegated job dropped", {
      job: execution.offer.uuid,
      local: execution.localUuid,
      why,
    });
  }

  private forget(execution: Execution): void {
    this.byKey.delete(execution.key);
    if (execution.localUuid) this.byLocal.delete(execution.localUuid);
  }
}

/** The origin's route for one of an attempt's reports (`finish`, `log`, `outputs/<path>`, ...). */
function attemptPath(offer: Offer, what: string): string {
  return `/federation/jobs/${offer.uuid}/attempts/${offer.attempt}/${what}`;
}

/** The end of an attempt whose job did not run here (it could not start, or was handed back). */
function withoutRun(cause: "spawn" | "stopped", error: string | null): Finish {
  return {
    cause,
    exitCode: null,
    signal: null,
    peakRssKb: null,
    error,
    resultJson: null,
    stepsJson: "[]",
    progress: null,
  };
}

/**
 * What is wrong with an offer's names, if anything: a peer holds the secret, but nothing it sends
 * may become a path outside the job's folder here (file names are plain names, the root file a
 * relative path inside the inputs, the queue and process plain identifiers).
 */
function unsafeOffer(offer: Offer): string | null {
  const { job } = offer;
  if (!/^[0-9a-f-]{36}$/.test(offer.uuid) || !Number.isInteger(offer.attempt) || offer.attempt < 1) {
    return "the offer names no valid job and attempt";
  }
  if (!job || typeof job.queue !== "string" || typeof job.process !== "string") return "the offer has no job";
  for (const name of [job.scriptFile, job.inputFile]) {
    if (name != null && (typeof name !== "string" || safeBaseName(name) !== name)) {
      return `'${name}' is not a plain file name`;
    }
  }
  const root = job.rootFile;
  if (
    root != null &&
    (typeof root !== "string" || root.startsWith("/") || root.split(/[\\/]/).includes(".."))
  ) {
    return `'${root}' is not a path inside the inputs`;
  }
  if (!QUEUE_NAME.test(job.queue)) return `'${job.queue}' is not a queue name`;
  if (job.process !== "custom" && !PROCESS_NAME.test(job.process))
    return `'${job.process}' is not a process name`;
  return null;
}
