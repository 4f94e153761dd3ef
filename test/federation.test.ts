// Peer federation between real daemons on loopback: adverts, the peer table (alive, suspect, gone),
// and the signed peer routes (HMAC, clock window, no replay, no client token).

import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { sha256Hex, signRequest } from "../src/federation/signing.ts";
import { FROM_SOURCE, runCli } from "./helpers/cli.ts";
import { startTestDaemon, type TestDaemon, TOKEN, tempDir } from "./helpers/daemon.ts";
import { type ServeProcess, startServeProcess } from "./helpers/serve-process.ts";

const SECRET = "a-test-peer-secret-of-32-bytes!!";
const ROOT = join(import.meta.dir, "..");
const daemons: TestDaemon[] = [];
const processes: ServeProcess[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.close();
  for (const p of processes.splice(0)) p.proc.kill("SIGKILL");
});

async function peerDaemon(name: string, env: Record<string, string> = {}): Promise<TestDaemon> {
  const d = await startTestDaemon({ PEER_SECRET: SECRET, NODE_NAME: name, ADVERT_INTERVAL: "1", ...env });
  daemons.push(d);
  return d;
}

/** A CPU box `a` (cpu:1) that lists a GPU box `b` (gpu:1) in PEERS, once `a` sees `b` alive. */
async function cpuBoxWithGpuPeer(
  aEnv: Record<string, string> = {},
  bEnv: Record<string, string> = { SLOTS: "gpu:1" },
) {
  const b = await peerDaemon("b", bEnv);
  const a = await peerDaemon("a", { SLOTS: "cpu:1", PEERS: b.url, ...aEnv });
  expect(await eventuallyAsync(async () => (await stateOf(a, "b")) === "alive", 10000)).toBe(true);
  return { a, b };
}

/** The job part of an offer (federation/delegation.ts Offer.job): a custom gpu job, changed by `over`. */
function offeredJob(over: Record<string, unknown> = {}) {
  return {
    name: null,
    process: "custom",
    scriptFile: "job.ts",
    inputFile: null,
    rootFile: null,
    entrypoint: "main",
    queue: "gpu",
    priority: 0,
    timeLimitS: 60,
    computeOnly: false,
    retry: 0,
    paramsJson: "{}",
    configJson: "{}",
    ...over,
  };
}

interface PeersView {
  self: { name: string; node_id: string; url: string };
  peers: {
    name: string | null;
    url: string;
    state: string;
    queues: Record<string, { slots: number }>;
    lost_adverts: number;
    draining: boolean;
  }[];
}
const peersOf = async (d: TestDaemon) => (await (await d.api("/peers")).json()) as PeersView;
const stateOf = async (d: TestDaemon, name: string) =>
  (await peersOf(d)).peers.find((p) => p.name === name)?.state;

describe("adverts and the peer table", () => {
  test("three daemons with one secret see each other, with the queues each serves on slots of its own", async () => {
    const b = await peerDaemon("b", { SLOTS: "gpu:1" });
    const c = await peerDaemon("c", { SLOTS: "gpu:1,gpuhigh:1" });
    const a = await peerDaemon("a", { SLOTS: "cpu:1", PEERS: `${b.url},${c.url}` });
    let view: PeersView | null = null;
    const bothAlive = async () => {
      view = await peersOf(a);
      return view.peers.filter((p) => p.state === "alive").length === 2;
    };
    expect(await eventuallyAsync(bothAlive, 10000)).toBe(true);
    const peers = view!.peers;
    expect(peers.map((p) => [p.name, p.state]).sort()).toEqual([
      ["b", "alive"],
      ["c", "alive"],
    ]);
    const byName = Object.fromEntries(peers.map((p) => [p.name, p]));
    // Each advertises what its own slots serve (the control slots' queues included).
    expect(Object.keys(byName.b!.queues).sort()).toEqual(["clean", "control", "gpu", "zip"]);
    expect(Object.keys(byName.c!.queues).sort()).toEqual(["clean", "control", "gpu", "gpuhigh", "zip"]);
    expect(byName.c!.queues.gpu).toEqual({ slots: 2, busy: 0, waiting: 0 }); // the gpuhigh slot takes gpu too
    // A's cpu-only box serves gpu only through the cpu fallback: it does not advertise it.
    // B was not told about A in PEERS: it learned A from A's adverts, and advertises back.
    expect(await eventuallyAsync(async () => (await stateOf(b, "a")) === "alive", 10000)).toBe(true);
    const aSeenByB = (await peersOf(b)).peers.find((p) => p.name === "a")!;
    expect(Object.keys(aSeenByB.queues).sort()).toEqual(["clean", "control", "cpu", "zip"]);

    // The same table on the command line.
    const cli = await runCli(["peers", "-u", a.url, "-t", TOKEN]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/^NAME +URL +STATE +LAST SEEN +QUEUES +GPUS +LOST +TO +FROM$/m);
    expect(cli.stdout).toMatch(new RegExp(`^c +${c.url.replace(/[.]/g, "\\.")} +alive .*gpuhigh 0/1`, "m"));
  }, 30000);

  test("a peer whose adverts stop is suspect after 3 missed intervals and gone after 6", async () => {
    const { a, b } = await cpuBoxWithGpuPeer();
    await b.close();
    daemons.splice(daemons.indexOf(b), 1);
    const stopped = Date.now();
    expect(await eventuallyAsync(async () => (await stateOf(a, "b")) === "suspect", 10000)).toBe(true);
    const suspectAfter = Date.now() - stopped;
    expect(await eventuallyAsync(async () => (await stateOf(a, "b")) === "gone", 10000)).toBe(true);
    const goneAfter = Date.now() - stopped;
    console.log(`peer suspect after ${suspectAfter} ms, gone after ${goneAfter} ms (advert interval 1 s)`);
    expect(suspectAfter).toBeGreaterThanOrEqual(2000);
    expect(goneAfter).toBeGreaterThan(suspectAfter);
  }, 30000);

  test("a stopping daemon tells its peers at once: they see it draining before its adverts are missed", async () => {
    const { a, b } = await cpuBoxWithGpuPeer();
    // B advertises to A once it has heard from A (A lists B in PEERS, not the other way round).
    expect(await eventuallyAsync(async () => (await stateOf(b, "a")) === "alive", 10000)).toBe(true);
    const before = (await peersOf(a)).peers.find((p) => p.name === "b")!;
    expect(before.draining).toBe(false);
    await b.close();
    daemons.splice(daemons.indexOf(b), 1);
    // Its last advert went out before it stopped listening: no waiting for 3 missed intervals.
    const after = (await peersOf(a)).peers.find((p) => p.name === "b")!;
    expect(after).toMatchObject({ state: "alive", draining: true });
  }, 30000);

  test("a daemon with another secret is refused: it never appears, and its adverts get 401", async () => {
    const a = await peerDaemon("a", { SLOTS: "cpu:1" });
    const intruder = await startTestDaemon({
      PEER_SECRET: "another-secret-another-secret-!!",
      NODE_NAME: "intruder",
      ADVERT_INTERVAL: "1",
      PEERS: a.url,
    });
    daemons.push(intruder);
    await Bun.sleep(2500);
    expect((await peersOf(a)).peers.map((p) => p.name)).not.toContain("intruder");
  }, 30000);

  test("without PEER_SECRET federation is off: GET /peers is 404 and no /federation route exists", async () => {
    const alone = await startTestDaemon({});
    daemons.push(alone);
    expect((await alone.api("/peers")).status).toBe(404);
    expect((await fetch(`${alone.url}/federation/advert`, { method: "POST", body: "{}" })).status).toBe(404);
  });
});

describe("signed peer routes", () => {
  const advert = (nodeId: string) => ({
    nodeId,
    bootId: "boot",
    seq: 1,
    name: "forger",
    url: "http://127.0.0.1:9",
    version: "0",
    queues: {},
    gpus: [],
    draining: false,
    intervalMs: 1000,
  });
  const signed = (path: string, body: string, secret = SECRET, now = Date.now(), node = "node-x") =>
    signRequest(secret, { method: "POST", pathAndQuery: path, bodySha256: sha256Hex(body), node, now });

  test("unsigned, wrongly signed, stale, replayed, tampered or client-token requests are refused with 401", async () => {
    const a = await peerDaemon("a");
    const body = JSON.stringify(advert("node-x"));
    const post = (headers: Record<string, string>, text = body) =>
      fetch(`${a.url}/federation/advert`, { method: "POST", headers, body: text });
    expect((await post({})).status).toBe(401);
    expect((await post({ "x-api-key": TOKEN })).status).toBe(401);
    expect((await post(signed("/federation/advert", body, "wrong-secret-wrong-secret-wrong!"))).status).toBe(
      401,
    );
    expect((await post(signed("/federation/advert", body, SECRET, Date.now() - 120_000))).status).toBe(401);
    const good = signed("/federation/advert", body);
    expect((await post(good, body.replace("forger", "FORGER"))).status).toBe(401); // body changed
    const fresh = signed("/federation/advert", body);
    expect((await post(fresh)).status).toBe(204);
    const replay = await post(fresh);
    expect(replay.status).toBe(401);
    expect(await replay.text()).toContain("replayed");
    // The signer must be the node the advert names.
    const other = JSON.stringify(advert("node-y"));
    expect((await post(signed("/federation/advert", other), other)).status).toBe(400);
  });

  test("an offer whose names would leave the job's folder is refused, and nothing is created", async () => {
    const b = await peerDaemon("b", { SLOTS: "gpu:1" });
    const job = offeredJob({ scriptFile: "../../api-token" });
    for (const bad of [
      job,
      { ...job, scriptFile: "x.ts", rootFile: "../../etc/passwd" },
      { ...job, scriptFile: "x.ts", process: "../x" },
    ]) {
      const offer = JSON.stringify({
        origin: { nodeId: "node-x", url: "http://127.0.0.1:9" },
        uuid: "0b8e5b9a-2c4d-4f6e-9a1b-3c5d7e9f1a2b",
        attempt: 1,
        leaseTtlMs: 30000,
        job: bad,
      });
      const res = await fetch(`${b.url}/federation/offers`, {
        method: "POST",
        headers: signed("/federation/offers", offer),
        body: offer,
      });
      expect(res.status).toBe(409);
    }
    expect(((await (await b.api("/jobs")).json()) as { jobs: unknown[] }).jobs).toEqual([]);
  });

  test("the peer secret opens no client route", async () => {
    const a = await peerDaemon("a");
    const headers = signRequest(SECRET, {
      method: "GET",
      pathAndQuery: "/jobs",
      bodySha256: sha256Hex(""),
      node: "node-x",
      now: Date.now(),
    });
    expect((await fetch(`${a.url}/jobs`, { headers })).status).toBe(401);
  });
});

async function eventuallyAsync(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await Bun.sleep(100);
  }
}

/** A gpu job that reports steps, writes outputs (one of them large), and returns where it ran. */
const GPU_JOB = `export const schedule = { queue: "gpu" };
export async function main(ctx, params) {
  ctx.progress.total(2);
  ctx.progress.next("render");
  console.log("rendering on", process.env.PIXYZ_SLOT);
  const input = await Bun.file(ctx.inputFile()).text();
  await Bun.write(ctx.outputDir("report.txt"), "seen: " + input.trim());
  await Bun.write(ctx.outputDir("sub/big.bin"), new Uint8Array(params.size).fill(7));
  await Bun.sleep(params.sleep ?? 0);
  ctx.progress.next("done");
  return { slot: process.env.PIXYZ_SLOT, queue: ctx.queue };
}`;

/**
 * Submits the TS `script` to `origin` and waits until it runs on `peer` itself (not only claimed
 * at the origin while the peer pulls its files); its uuid.
 */
async function runningOnPeer(origin: TestDaemon, peer: TestDaemon, script: string): Promise<string> {
  const res = await origin.submit({ script: new File([script], "j.ts") });
  const { uuid } = (await res.json()) as { uuid: string };
  const running = async () => {
    const { queues } = (await (await peer.api("/queues")).json()) as { queues: { running: number }[] };
    return queues.some((q) => q.running > 0);
  };
  expect(await eventuallyAsync(running, 10000)).toBe(true);
  return uuid;
}

/**
 * A gpu job that sleeps a minute on any node but `origin`, where it returns at once: within a
 * test's time only its origin can finish it.
 */
async function finishesOnlyAt(origin: TestDaemon): Promise<string> {
  const node = (await peersOf(origin)).self.node_id;
  return `export const schedule = { queue: "gpu" };
export async function main() {
  if (process.env.PIXYZ_NODE !== ${JSON.stringify(node)}) await Bun.sleep(60000);
  return "ran again at the origin";
}`;
}

/** Stops a peer (2 s of grace, as every test daemon) for good. */
async function stopPeer(peer: TestDaemon): Promise<void> {
  await peer.close();
  daemons.splice(daemons.indexOf(peer), 1);
}

interface Details {
  status: string;
  result: unknown;
  error: string | null;
  attempts: { number: number; slot: string; cause: string | null }[];
  steps: { info: string }[];
  retry: number;
}

describe("hand-off under a lease", () => {
  test("a gpu job submitted to a CPU box runs on a GPU peer; its progress, log and outputs come home", async () => {
    const { a } = await cpuBoxWithGpuPeer();
    const res = await a.submit({
      script: new File([GPU_JOB], "render.ts"),
      file: new File(["a part"], "part.txt"),
      params: JSON.stringify({ size: 3_000_000, sleep: 300 }),
    });
    expect(res.status).toBe(200);
    const uuid = ((await res.json()) as { uuid: string }).uuid;
    // Live at the origin while it runs on the peer.
    const running = (await a.waitFor(uuid, ["STARTED"], 20000)) as unknown as Details;
    expect(running.attempts[0]!.slot).toBe("peer:b");
    const done = (await a.waitFor(uuid, undefined, 30000)) as unknown as Details;
    expect(done.status).toBe("SUCCESS");
    expect(done.result).toEqual({ slot: "gpu-0", queue: "gpu" });
    expect(done.steps.map((s) => s.info)).toEqual(["render", "done"]);
    const report = await a.api(`/jobs/${uuid}/outputs/report.txt`);
    expect(await report.text()).toBe("seen: a part");
    const big = new Uint8Array(await (await a.api(`/jobs/${uuid}/outputs/sub/big.bin`)).arrayBuffer());
    expect(big.length).toBe(3_000_000);
    expect(big.every((byte) => byte === 7)).toBe(true);
    const log = await (await a.api(`/jobs/${uuid}/logs`)).text();
    expect(log).toContain("rendering on gpu-0");
    const peers = await peersOf(a);
    expect(peers.peers.find((p) => p.name === "b")).toMatchObject({ delegated_to: 1 });
    const metrics = await (await a.api("/metrics", { auth: false })).text();
    expect(metrics).toMatch(/^pixyz_peers\{state="alive"\} 1$/m);
    expect(metrics).toMatch(/^pixyz_peer_offers_accepted_total 1$/m);
    expect(metrics).toMatch(/^pixyz_peer_jobs_delegated_to\{peer="b"\} 1$/m);
    // The outputs came home: at least the 3 MB file's bytes were received here.
    const received = Number(/^pixyz_peer_bytes_received_total (\d+)$/m.exec(metrics)?.[1]);
    expect(received).toBeGreaterThanOrEqual(3_000_000);
  }, 60000);

  test("an executor that stops while a delegated job runs lets it finish in its grace and reports it home: one attempt", async () => {
    const { a, b } = await cpuBoxWithGpuPeer({ GPU_FALLBACK: "wait" });
    const job = `export const schedule = { queue: "gpu" };
export async function main() {
  await Bun.sleep(800);
  return "finished during the stop";
}`;
    const uuid = await runningOnPeer(a, b, job);
    await stopPeer(b); // a stop with 2 s of grace: the job ends in it
    // B is gone and A never stands in for gpu: only B's report can end the job.
    const done = (await a.waitFor(uuid, undefined, 10000)) as unknown as Details;
    expect(done.status).toBe("SUCCESS");
    expect(done.result).toBe("finished during the stop");
    expect(done.attempts.map((x) => [x.slot, x.cause])).toEqual([["peer:b", "success"]]);
  }, 30000);

  test("an executor whose stop kills a delegated job hands it back: the origin runs it again at once, not after the lease", async () => {
    // A lease of 120 s: only the hand-back can bring the job back within the test's time.
    const { a, b } = await cpuBoxWithGpuPeer({ LEASE_TTL: "120" });
    const uuid = await runningOnPeer(a, b, await finishesOnlyAt(a));
    const stoppedAt = Date.now();
    await stopPeer(b); // 2 s of grace, then the job is killed
    const done = (await a.waitFor(uuid, undefined, 20000)) as unknown as Details;
    expect(done.status).toBe("SUCCESS");
    expect(done.result).toBe("ran again at the origin");
    expect(done.attempts.map((x) => x.cause)).toEqual(["stopped", "success"]);
    expect(done.attempts[0]!.slot).toBe("peer:b");
    expect(done.retry).toBe(0); // a stop is not the job's fault: no retry spent
    expect(Date.now() - stoppedAt).toBeLessThan(60000);
  }, 60000);

  test("an executor that stops while a delegated job's input is still coming hands it back at once", async () => {
    const { a, b } = await cpuBoxWithGpuPeer({ LEASE_TTL: "120" });
    const origin = ((await (await a.api("/peers")).json()) as PeersView).self.node_id;
    const job = `export const schedule = { queue: "gpu" };
export async function main(ctx) {
  return { at: process.env.PIXYZ_NODE === ${JSON.stringify(origin)} ? "origin" : "peer", bytes: Bun.file(ctx.inputFile()).size };
}`;
    // Big enough that the peer is still pulling it when its stop comes.
    const size = 150 * 1024 * 1024;
    const res = await a.submit({
      script: new File([job], "j.ts"),
      file: new File([new Uint8Array(size)], "big.bin"),
    });
    const { uuid } = (await res.json()) as { uuid: string };
    const staging = join(b.dataDir, "jobs", ".staging");
    const pulling = () => {
      try {
        return [...new Bun.Glob("*/inputs/*.part-*").scanSync({ cwd: staging, dot: true })].length > 0;
      } catch {
        return false; // no staging folder yet
      }
    };
    // Looked for often: on a fast machine the pull takes a fraction of a second.
    let seen = false;
    for (const deadline = Date.now() + 20000; !seen && Date.now() < deadline; ) {
      seen = pulling();
      if (!seen) await Bun.sleep(5);
    }
    expect(seen).toBe(true);
    const stoppedAt = Date.now();
    await stopPeer(b);
    // Not after the 120 s lease: the hand-back brings it home, where the cpu slot stands in.
    const done = (await a.waitFor(uuid, undefined, 40000)) as unknown as Details;
    expect(done.status).toBe("SUCCESS");
    expect(done.result).toEqual({ at: "origin", bytes: size });
    expect(done.attempts.map((x) => [x.slot, x.cause])).toEqual([
      ["peer:b", "stopped"],
      ["cpu-0", "success"],
    ]);
    expect(done.retry).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(60000);
  }, 90000);

  test("cancel at the origin kills the job on the peer", async () => {
    const { a, b } = await cpuBoxWithGpuPeer();
    const long = `export const schedule = { queue: "gpu" };
export async function main(ctx) {
  await Bun.write(ctx.outputDir("pid"), String(process.pid));
  await Bun.sleep(60000);
}`;
    const uuid = (
      (await (await a.submit({ script: new File([long], "long.ts") })).json()) as { uuid: string }
    ).uuid;
    await a.waitFor(uuid, ["STARTED"], 20000);
    // The peer's own job for it: running there.
    const local = await eventuallyAsync(
      async () =>
        ((await (await b.api("/jobs?status=STARTED")).json()) as { jobs: unknown[] }).jobs.length === 1,
      10000,
    );
    expect(local).toBe(true);
    expect((await a.api(`/jobs/${uuid}`, { method: "DELETE" })).status).toBe(200);
    expect(
      await eventuallyAsync(
        async () =>
          ((await (await b.api("/jobs?status=REVOKED")).json()) as { jobs: unknown[] }).jobs.length === 1,
        10000,
      ),
    ).toBe(true);
    expect((await a.waitFor(uuid)).status).toBe("REVOKED");
  }, 60000);

  test("an offer delivered twice runs once", async () => {
    const { a, b } = await cpuBoxWithGpuPeer();
    const uuid = (
      (await (
        await a.submit({
          script: new File([GPU_JOB], "render.ts"),
          file: new File(["x"], "x.txt"),
          params: '{"size":1}',
        })
      ).json()) as { uuid: string }
    ).uuid;
    expect((await a.waitFor(uuid, undefined, 30000)).status).toBe("SUCCESS");
    // Replaying the same offer (same origin, job and attempt) with a fresh signature changes nothing.
    const aSelf = (await peersOf(a)).self;
    const offer = JSON.stringify({
      origin: { nodeId: aSelf.node_id, url: aSelf.url },
      uuid,
      attempt: 1,
      leaseTtlMs: 30000,
      job: offeredJob({ scriptFile: "render.ts", inputFile: "x.txt", paramsJson: '{"size":1}' }),
    });
    const headers = signRequest(SECRET, {
      method: "POST",
      pathAndQuery: "/federation/offers",
      bodySha256: sha256Hex(offer),
      node: aSelf.node_id,
      now: Date.now(),
    });
    await fetch(`${b.url}/federation/offers`, { method: "POST", headers, body: offer });
    await Bun.sleep(500);
    const jobsOnB = ((await (await b.api("/jobs")).json()) as { jobs: unknown[] }).jobs;
    expect(jobsOnB.length).toBe(1);
  }, 60000);
});

describe("faults", () => {
  test("a job left for a peer that freezes runs on this node's stand-in slot once the peer is suspect, with nothing else happening", async () => {
    const b = await startServeProcess(FROM_SOURCE, {
      dataDir: tempDir(),
      cwd: ROOT,
      env: { PEER_SECRET: SECRET, ADVERT_INTERVAL: "1", SLOTS: "gpu:1", NODE_NAME: "b" },
    });
    processes.push(b);
    const a = await peerDaemon("a", { SLOTS: "cpu:1", PEERS: b.url });
    expect(await eventuallyAsync(async () => (await stateOf(a, "b")) === "alive", 10000)).toBe(true);
    // Frozen: it still looks alive for up to 3 advert intervals, and the offer to it hangs.
    b.proc.kill("SIGSTOP");
    try {
      const job = `export const schedule = { queue: "gpu" };
export async function main() { return process.env.PIXYZ_SLOT; }`;
      const res = await a.submit({ script: new File([job], "j.ts") });
      const { uuid } = (await res.json()) as { uuid: string };
      const done = (await a.waitFor(uuid, undefined, 20000)) as unknown as Details;
      expect(done.status).toBe("SUCCESS");
      expect(done.result).toBe("cpu-0");
      expect(done.attempts.map((x) => x.slot)).toEqual(["cpu-0"]);
    } finally {
      b.proc.kill("SIGCONT");
    }
  }, 60000);

  test("kill -9 of the executor mid-job: its lease expires and the job ends SUCCESS on the other peer, attempts [lost, success]", async () => {
    const env = { PEER_SECRET: SECRET, ADVERT_INTERVAL: "1", LEASE_TTL: "3", SLOTS: "gpu:1" };
    const b = await startServeProcess(FROM_SOURCE, {
      dataDir: tempDir(),
      cwd: ROOT,
      env: { ...env, NODE_NAME: "b" },
    });
    const c = await startServeProcess(FROM_SOURCE, {
      dataDir: tempDir(),
      cwd: ROOT,
      env: { ...env, NODE_NAME: "c" },
    });
    processes.push(b, c);
    const a = await peerDaemon("a", { SLOTS: "cpu:1", PEERS: `${b.url},${c.url}`, LEASE_TTL: "3" });
    expect(
      await eventuallyAsync(
        async () => (await peersOf(a)).peers.filter((p) => p.state === "alive").length === 2,
        15000,
      ),
    ).toBe(true);
    const slow = `export const schedule = { queue: "gpu" };
export async function main(ctx) {
  await Bun.sleep(2500);
  return process.env.PIXYZ_NODE;
}`;
    const uuid = (
      (await (await a.submit({ script: new File([slow], "slow.ts") })).json()) as { uuid: string }
    ).uuid;
    const started = (await a.waitFor(uuid, ["STARTED"], 20000)) as unknown as Details;
    const first = started.attempts[0]!.slot;
    const victim = first === "peer:b" ? b : c;
    victim.proc.kill("SIGKILL");
    await victim.proc.exited;
    const done = (await a.waitFor(uuid, undefined, 40000)) as unknown as Details;
    expect(done.status).toBe("SUCCESS");
    expect(done.attempts.map((x) => x.cause)).toEqual(["lost", "success"]);
    expect(done.attempts[1]!.slot).toBe(first === "peer:b" ? "peer:c" : "peer:b");
  }, 90000);

  test("a control job's chord whose gpu children run on peers finishes at the origin", async () => {
    const b = await peerDaemon("b", { SLOTS: "gpu:2" });
    // GPU_FALLBACK=wait: the gpu children can only run on the peer (a busy peer is waited for).
    const a = await peerDaemon("a", { SLOTS: "cpu:1", PEERS: b.url, GPU_FALLBACK: "wait" });
    expect(await eventuallyAsync(async () => (await stateOf(a, "b")) === "alive", 10000)).toBe(true);
    const chord = `from pixyz_worker.script import *
from celery import chord
from celery.result import allow_join_result
import os


def part(pc, params):
    return {'n': params['n'], 'slot': os.environ.get('PIXYZ_SLOT')}


def merge(pc, params):
    return sorted(x['result']['n'] for x in params)


@pixyz_schedule(queue='control')
def main(pc, params):
    tasks = [pixyz_execute.s({'n': n}, pc.clone().update(entrypoint='part')) for n in range(3)]
    result = chord(tasks)(pixyz_execute.s(pc=pc.clone().update(entrypoint='merge')))
    with allow_join_result():
        return result.get()
`;
    const uuid = (
      (await (await a.submit({ script: new File([chord], "chord.py") })).json()) as { uuid: string }
    ).uuid;
    const done = (await a.waitFor(uuid, undefined, 60000)) as unknown as Details & { children: string[] };
    expect(done.status).toBe("SUCCESS");
    expect((done.result as { result: number[] }).result).toEqual([0, 1, 2]);
    const parent = (await (await a.api(`/jobs/${uuid}/details`)).json()) as { children: string[] };
    for (const child of parent.children) {
      const d = (await (await a.api(`/jobs/${child}/details`)).json()) as Details;
      expect(d.attempts.at(-1)!.slot).toBe("peer:b");
    }
  }, 90000);
});

describe("origin restart", () => {
  test("a delegated job keeps its lease across a restart of its origin and reports once it is back: one attempt", async () => {
    const b = await peerDaemon("b", { SLOTS: "gpu:1", LEASE_TTL: "20" });
    const restarting = await restartable("a", {
      GPU_FALLBACK: "wait",
      SLOTS: "cpu:1",
      PEERS: b.url,
      LEASE_TTL: "20",
    });
    let a = await restarting.start();
    expect(await eventuallyAsync(async () => (await stateOf(a, "b")) === "alive", 10000)).toBe(true);
    const slow = `export const schedule = { queue: "gpu" };
export async function main(ctx) {
  ctx.progress.next("working");
  await Bun.sleep(3000);
  return "done on " + process.env.PIXYZ_SLOT;
}`;
    const uuid = (
      (await (await a.submit({ script: new File([slow], "slow.ts") })).json()) as { uuid: string }
    ).uuid;
    await a.waitFor(uuid, ["STARTED"], 20000);
    await a.close({ keepData: true });
    await Bun.sleep(500);
    a = await restarting.start();
    daemons.push(a);
    const done = (await a.waitFor(uuid, undefined, 40000)) as unknown as Details;
    expect(done.status).toBe("SUCCESS");
    expect(done.result).toBe("done on gpu-0");
    expect(done.attempts.map((x) => [x.slot, x.cause])).toEqual([["peer:b", "success"]]);
  }, 60000);

  test("an executor that stops while its origin is down stops in its time; the origin, back, runs the job once the lease runs out", async () => {
    const b = await peerDaemon("b", { SLOTS: "gpu:1" });
    const restarting = await restartable("a", { SLOTS: "cpu:1", PEERS: b.url, LEASE_TTL: "4" });
    let a = await restarting.start();
    expect(await eventuallyAsync(async () => (await stateOf(a, "b")) === "alive", 10000)).toBe(true);
    const uuid = await runningOnPeer(a, b, await finishesOnlyAt(a));
    await a.close({ keepData: true });
    // The job is killed at the end of b's grace; its hand-back finds nobody and is given up.
    const stopping = Date.now();
    await stopPeer(b);
    expect(Date.now() - stopping).toBeLessThan(15000);
    a = await restarting.start();
    daemons.push(a);
    const done = (await a.waitFor(uuid, undefined, 30000)) as unknown as Details;
    expect(done.status).toBe("SUCCESS");
    expect(done.result).toBe("ran again at the origin");
    expect(done.attempts.map((x) => [x.slot, x.cause])).toEqual([
      ["peer:b", "lost"],
      ["cpu-0", "success"],
    ]);
    expect(done.retry).toBe(0);
  }, 60000);
});

/**
 * A peer daemon that can be stopped (close with keepData) and started again as itself: the same
 * data folder and the same loopback port, so its peers and its delegated jobs find it again.
 */
async function restartable(name: string, env: Record<string, string>) {
  const dataDir = tempDir();
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = String(server.port);
  server.stop(true);
  const full = { PEER_SECRET: SECRET, NODE_NAME: name, ADVERT_INTERVAL: "1", API_PORT: port, ...env };
  return { start: () => startTestDaemon(full, dataDir) };
}

describe("load sharing and large files", () => {
  test("a job that waited past SPILL_DELAY here goes to a peer with a free slot of its queue", async () => {
    const b = await peerDaemon("b", { SLOTS: "cpu:1" });
    const a = await peerDaemon("a", { SLOTS: "cpu:1", PEERS: b.url, SPILL_DELAY: "1" });
    expect(await eventuallyAsync(async () => (await stateOf(a, "b")) === "alive", 10000)).toBe(true);
    const long = "export async function main() { await Bun.sleep(5000); return 'long'; }";
    const quick = "export async function main() { return process.env.PIXYZ_SLOT; }";
    const first = (
      (await (await a.submit({ script: new File([long], "long.ts") })).json()) as { uuid: string }
    ).uuid;
    await a.waitFor(first, ["STARTED"], 10000);
    const second = (
      (await (await a.submit({ script: new File([quick], "quick.ts") })).json()) as { uuid: string }
    ).uuid;
    const done = (await a.waitFor(second, undefined, 20000)) as unknown as Details;
    expect(done.status).toBe("SUCCESS");
    expect(done.attempts.map((x) => x.slot)).toEqual(["peer:b"]);
    expect(done.result).toBe("cpu-0"); // b's own slot
    await a.api(`/jobs/${first}`, { method: "DELETE" });
  }, 60000);

  test("a burst of gpu jobs on a CPU box that never stands in all run on the GPU peer's two slots", async () => {
    // Each job the peer finishes frees a slot the origin refills without waiting for an advert, and
    // a pass that placed a job is followed by another: the burst drains in passes, none is lost.
    const { a } = await cpuBoxWithGpuPeer({ GPU_FALLBACK: "wait" }, { SLOTS: "gpu:2" });
    const job = `export const schedule = { queue: "gpu" };\nexport async function main() { return process.env.PIXYZ_SLOT; }`;
    const uuids = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const res = await a.submit({ script: new File([job], `burst-${i}.ts`) });
        return ((await res.json()) as { uuid: string }).uuid;
      }),
    );
    const done = (await Promise.all(
      uuids.map((uuid) => a.waitFor(uuid, undefined, 30000)),
    )) as unknown as Details[];
    expect(done.map((d) => d.status)).toEqual(Array(8).fill("SUCCESS"));
    for (const d of done) expect(d.attempts.map((x) => x.slot)).toEqual(["peer:b"]);
    // Both of the peer's slots took jobs.
    expect(new Set(done.map((d) => d.result))).toEqual(new Set(["gpu-0", "gpu-1"]));
  }, 60000);

  test("a gone peer gets no new work: the job runs here on the fallback", async () => {
    const { a, b } = await cpuBoxWithGpuPeer();
    await b.close();
    daemons.splice(daemons.indexOf(b), 1);
    expect(await eventuallyAsync(async () => (await stateOf(a, "b")) === "gone", 15000)).toBe(true);
    const quick = `export const schedule = { queue: "gpu" };\nexport async function main() { return process.env.PIXYZ_SLOT; }`;
    const uuid = ((await (await a.submit({ script: new File([quick], "q.ts") })).json()) as { uuid: string })
      .uuid;
    const done = (await a.waitFor(uuid, undefined, 20000)) as unknown as Details;
    expect(done.attempts.map((x) => x.slot)).toEqual(["cpu-0"]);
  }, 60000);

  test("a 200 MB input and a 200 MB output cross to the peer and back byte-identical", async () => {
    const { a } = await cpuBoxWithGpuPeer({ GPU_FALLBACK: "wait" });
    const size = 200 * 1024 * 1024;
    const input = new Uint8Array(size);
    for (let i = 0; i < size; i += 4096) input[i] = (i / 4096) % 251;
    const copy = `export const schedule = { queue: "gpu" };
export async function main(ctx) {
  await Bun.write(ctx.outputDir("copy.bin"), Bun.file(ctx.inputFile()));
  return null;
}`;
    const res = await a.submit({ script: new File([copy], "copy.ts"), file: new File([input], "big.bin") });
    const uuid = ((await res.json()) as { uuid: string }).uuid;
    const done = (await a.waitFor(uuid, undefined, 120000)) as unknown as Details;
    expect(done.status).toBe("SUCCESS");
    expect(done.attempts.map((x) => x.slot)).toEqual(["peer:b"]);
    const back = new Uint8Array(await (await a.api(`/jobs/${uuid}/outputs/copy.bin`)).arrayBuffer());
    expect(back.length).toBe(size);
    expect(Bun.hash(back)).toBe(Bun.hash(input));
  }, 180000);
});

describe("a configured peer that comes back", () => {
  test("a PEERS peer that went gone and restarts hears from us again, though it does not list us", async () => {
    const restarting = await restartable("b", { SLOTS: "gpu:1" });
    let b = await restarting.start();
    const a = await peerDaemon("a", { SLOTS: "cpu:1", PEERS: b.url });
    expect(await eventuallyAsync(async () => (await stateOf(b, "a")) === "alive", 10000)).toBe(true);
    expect(await eventuallyAsync(async () => (await stateOf(a, "b")) === "alive", 10000)).toBe(true);
    await b.close({ keepData: true });
    expect(await eventuallyAsync(async () => (await stateOf(a, "b")) === "gone", 15000)).toBe(true);
    b = await restarting.start();
    daemons.push(b);
    // b lists no peer: it can only learn of a from a's adverts, which go on to the PEERS URL.
    expect(await eventuallyAsync(async () => (await stateOf(b, "a")) === "alive", 10000)).toBe(true);
    expect(await eventuallyAsync(async () => (await stateOf(a, "b")) === "alive", 10000)).toBe(true);
  }, 60000);
});
