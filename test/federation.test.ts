// Peer federation between real daemons on loopback: adverts, the peer table (alive, suspect, gone),
// and the signed peer routes (HMAC, clock window, no replay, no client token).

import { afterEach, describe, expect, test } from "bun:test";
import { sha256Hex, signRequest } from "../src/federation/signing.ts";
import { startTestDaemon, type TestDaemon, TOKEN } from "./helpers/daemon.ts";

const SECRET = "a-test-peer-secret-of-32-bytes!!";
const daemons: TestDaemon[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.close();
});

async function peerDaemon(name: string, env: Record<string, string> = {}): Promise<TestDaemon> {
  const d = await startTestDaemon({ PEER_SECRET: SECRET, NODE_NAME: name, ADVERT_INTERVAL: "1", ...env });
  daemons.push(d);
  return d;
}

interface PeersView {
  self: { name: string; node_id: string; url: string };
  peers: {
    name: string | null;
    url: string;
    state: string;
    queues: Record<string, { slots: number }>;
    lost_adverts: number;
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
  }, 30000);

  test("a peer whose adverts stop is suspect after 3 missed intervals and gone after 6", async () => {
    const b = await peerDaemon("b", { SLOTS: "gpu:1" });
    const a = await peerDaemon("a", { SLOTS: "cpu:1", PEERS: b.url });
    expect(await eventuallyAsync(async () => (await stateOf(a, "b")) === "alive", 10000)).toBe(true);
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
