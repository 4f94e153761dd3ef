// DISCOVERY=mdns between real daemons, each in a network namespace this test makes: three member
// namespaces joined by veth pairs to a bridge that lives in a fourth one, with 10.66.0.0/24
// addresses and a multicast route that exist only in there. No packet of this test reaches the
// host's own interfaces, and no daemon with DISCOVERY=mdns runs in the host's namespace. The host
// cannot reach those addresses either: every request to a daemon is a small bun script run inside
// its namespace. Needs root and `ip` (iproute2); otherwise the tests are skipped, with the reason.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/config.ts";
import { type Advert, FORGET_AFTER_MS, PeerTable } from "../src/federation/peers.ts";
import { TOKEN } from "./helpers/client.ts";

const ROOT = join(import.meta.dir, "..");
const BUN = process.execPath;
const SECRET = "a-test-peer-secret-of-32-bytes!!";
const OTHER_SECRET = "another-secret-another-secret-!!";
const TOKEN_SHA256 = createHash("sha256").update(TOKEN).digest("hex");
const PORT = 8001;
/** Namespace names carry this process's id: a run killed before its cleanup is cleaned by the next. */
const TAG = `pxsd${process.pid}`;
const SWITCH = `${TAG}-sw`;
const MEMBERS = { a: "10.66.0.1", b: "10.66.0.2", c: "10.66.0.3" } as const;
type Member = keyof typeof MEMBERS;
const nsOf = (m: Member) => `${TAG}-${m}`;
const urlOf = (m: Member) => `http://${MEMBERS[m]}:${PORT}`;

function ip(args: string[]): { ok: boolean; out: string } {
  const r = Bun.spawnSync(["ip", ...args], { stdout: "pipe", stderr: "pipe" });
  return { ok: r.exitCode === 0, out: `${r.stdout.toString()}${r.stderr.toString()}`.trim() };
}

/** Why namespaces cannot be made here, or null when they can. */
function unsupported(): string | null {
  if (process.platform !== "linux") return "network namespaces need Linux";
  if (process.getuid?.() !== 0) return "making network namespaces needs root";
  if (!Bun.which("ip")) return "no `ip` command (iproute2)";
  const probe = `${TAG}-probe`;
  const made = ip(["netns", "add", probe]);
  if (!made.ok) return `\`ip netns add\` failed: ${made.out}`;
  ip(["netns", "del", probe]);
  return null;
}

/** Namespaces left by an earlier run of this test that was killed (its process is gone). */
function removeStale(): void {
  for (const line of ip(["netns", "list"]).out.split("\n")) {
    const match = /^(pxsd(\d+)-\S+)/.exec(line);
    if (!match) continue;
    try {
      process.kill(Number(match[2]), 0);
    } catch {
      ip(["netns", "del", match[1]!]);
    }
  }
}

function removeNamespaces(): void {
  for (const ns of [...(Object.keys(MEMBERS) as Member[]).map(nsOf), SWITCH]) ip(["netns", "del", ns]);
}

/** The switch namespace holds a bridge; each member gets eth0, its other end a port of the bridge. */
function makeNamespaces(): void {
  const must = (args: string[]) => {
    const r = ip(args);
    if (!r.ok) throw new Error(`ip ${args.join(" ")}: ${r.out}`);
  };
  must(["netns", "add", SWITCH]);
  must(["-n", SWITCH, "link", "add", "br0", "type", "bridge"]);
  must(["-n", SWITCH, "link", "set", "br0", "up"]);
  for (const [member, address] of Object.entries(MEMBERS) as [Member, string][]) {
    const ns = nsOf(member);
    must(["netns", "add", ns]);
    // Both ends are made directly in their namespaces: neither ever exists in the host's.
    must(["link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", `p${member}`, "netns", SWITCH]);
    must(["-n", SWITCH, "link", "set", `p${member}`, "master", "br0"]);
    must(["-n", SWITCH, "link", "set", `p${member}`, "up"]);
    must(["-n", ns, "link", "set", "lo", "up"]);
    must(["-n", ns, "addr", "add", `${address}/24`, "dev", "eth0"]);
    must(["-n", ns, "link", "set", "eth0", "up"]);
    must(["-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0"]);
  }
}

interface NsDaemon {
  proc: ReturnType<typeof Bun.spawn>;
  dataDir: string;
  log(): string;
}

const daemons = new Map<Member, NsDaemon>();

function startInNamespace(member: Member, secret: string): NsDaemon {
  const dataDir = mkdtempSync(join(tmpdir(), `pxs-discovery-${member}-`));
  const logFile = join(dataDir, "serve.log");
  const logFd = openSync(logFile, "a");
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && key !== "BUN_BE_BUN") env[key] = value;
  }
  const proc = Bun.spawn(["ip", "netns", "exec", nsOf(member), BUN, "src/cli/main.ts", "serve"], {
    cwd: ROOT,
    env: {
      ...env,
      API_HOST: MEMBERS[member],
      API_PORT: String(PORT),
      DATA_DIR: dataDir,
      GOD_PASSWORD_SHA256: TOKEN_SHA256,
      SLOTS: "cpu:1",
      CONTROL_SLOTS: "1",
      PEER_SECRET: secret,
      PEERS: "",
      DISCOVERY: "mdns",
      ADVERT_INTERVAL: "1",
      NODE_NAME: member,
      ADVERTISE_URL: urlOf(member),
      LOG_LEVEL: "info",
      LOG_FORMAT: "text",
    },
    stdio: ["ignore", logFd, logFd],
  });
  closeSync(logFd);
  const daemon = { proc, dataDir, log: () => readFileSync(logFile, "utf8") };
  daemons.set(member, daemon);
  return daemon;
}

async function stopAll(): Promise<void> {
  for (const [member, daemon] of daemons) {
    daemon.proc.kill("SIGTERM");
    const ended = await Promise.race([
      daemon.proc.exited.then(() => true),
      Bun.sleep(5000).then(() => false),
    ]);
    if (!ended) daemon.proc.kill("SIGKILL");
    rmSync(daemon.dataDir, { recursive: true, force: true });
    daemons.delete(member);
  }
}

/** Runs a bun script inside a namespace; returns its stdout. */
async function runInNamespace(member: Member, code: string, timeoutMs = 10000): Promise<string> {
  const proc = Bun.spawn(["ip", "netns", "exec", nsOf(member), BUN, "-e", code], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    proc.kill("SIGKILL");
  }, timeoutMs);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  clearTimeout(timer);
  if (late) {
    throw new Error(
      `a script in ${member}'s namespace did not end within ${timeoutMs} ms (something left running?); it wrote: ${out}${err}`,
    );
  }
  if ((await proc.exited) !== 0) throw new Error(`a script in ${member}'s namespace failed: ${out}${err}`);
  return out;
}

interface PeerRow {
  name: string | null;
  url: string;
  state: string;
}

/** GET /peers of `member`'s daemon, asked from inside its namespace; null while it does not answer. */
async function peersOf(member: Member): Promise<PeerRow[] | null> {
  const code = `const r = await fetch(${JSON.stringify(`${urlOf(member)}/peers`)}, { headers: { "x-api-key": ${JSON.stringify(TOKEN)} } }).catch(() => null);
console.log(r && r.ok ? JSON.stringify((await r.json()).peers) : "null");`;
  return JSON.parse((await runInNamespace(member, code)).trim() || "null") as PeerRow[] | null;
}

describe("the setting and the peer table's discovered targets", () => {
  test("DISCOVERY is off by default, mdns when asked, anything else refused by name", () => {
    expect(loadConfig({ env: {} }).federation.discovery).toBe("off");
    expect(loadConfig({ env: { DISCOVERY: "MDNS" } }).federation.discovery).toBe("mdns");
    expect(() => loadConfig({ env: { DISCOVERY: "bonjour" } })).toThrow(
      /invalid DISCOVERY: expected one of off, mdns/,
    );
  });

  test("a discovered URL is a target until its daemon answers; PEERS entries are never dropped", () => {
    let now = 1_000_000;
    const table = new PeerTable(["http://static:8001"], () => now);
    const advert = (url: string, seq: number): Advert => ({
      nodeId: "node-d",
      bootId: "boot",
      seq,
      name: "d",
      url,
      version: "0",
      queues: {},
      gpus: [],
      draining: false,
      intervalMs: 1000,
    });
    expect(table.addTarget("http://static:8001")).toBe(false); // already configured
    expect(table.addTarget("http://d:8001", "node-d")).toBe(true);
    expect(table.addTarget("http://d:8001", "node-d")).toBe(false);
    expect(table.targets().sort()).toEqual(["http://d:8001", "http://static:8001"]);
    // A refusal drops a discovered URL (for a while), never a configured one.
    expect(table.dropDiscovered("http://static:8001", true)).toBe(false);
    expect(table.dropDiscovered("http://d:8001", true)).toBe(true);
    expect(table.targets()).toEqual(["http://static:8001"]);
    expect(table.addTarget("http://d:8001", "node-d")).toBe(false);
    now += 11 * 60_000;
    expect(table.addTarget("http://d:8001", "node-d")).toBe(true);
    // Its advert makes it a peer like any other: one row, no separate target.
    table.receive(advert("http://d:8001", 1));
    expect(
      table
        .all()
        .map((p) => p.url)
        .sort(),
    ).toEqual(["http://d:8001", "http://static:8001"]);
    expect(table.addTarget("http://d:8001", "node-d")).toBe(false); // known and alive
    // Gone, then found again: a target again, still one row, until its next advert.
    now += 10_000;
    expect(table.targets()).toEqual(["http://static:8001"]);
    expect(table.addTarget("http://d:8001", "node-d")).toBe(true);
    expect(table.targets().sort()).toEqual(["http://d:8001", "http://static:8001"]);
    expect(table.all()).toHaveLength(2);
    table.receive(advert("http://d:8001", 2));
    expect(table.dropDiscovered("http://d:8001", false)).toBe(false); // heard from: not a discovered target now
    expect(table.targets().sort()).toEqual(["http://d:8001", "http://static:8001"]);
  });
});

test("a peer not heard from for 24 h is forgotten; a PEERS one stays a target, listed as not heard from", () => {
  let now = 1_000_000;
  const table = new PeerTable(["http://static:8001"], () => now);
  const advert = (nodeId: string, url: string): Advert => ({
    nodeId,
    bootId: "boot",
    seq: 1,
    name: nodeId,
    url,
    version: "0",
    queues: { gpu: { slots: 1, busy: 0, waiting: 0 } },
    gpus: [],
    draining: false,
    intervalMs: 1000,
  });
  table.receive(advert("node-s", "http://static:8001"));
  table.receive(advert("node-d", "http://d:8001"));
  now += FORGET_AFTER_MS - 1;
  expect(table.forgetGone()).toEqual([]);
  expect(table.all().map((p) => p.advert?.nodeId)).toEqual(["node-s", "node-d"]);
  now += 1;
  expect(table.forgetGone().sort()).toEqual(["node-d", "node-s"]);
  expect(table.get("node-d")).toBeUndefined();
  expect(table.all().map((p) => [p.url, table.state(p)])).toEqual([["http://static:8001", "unknown"]]);
  expect(table.targets()).toEqual(["http://static:8001"]);
  // Back after that: a new peer, alive again.
  table.receive(advert("node-s", "http://static:8001"));
  expect(table.all().map((p) => [p.url, table.state(p)])).toEqual([["http://static:8001", "alive"]]);
  expect(table.forgetGone()).toEqual([]);
});

const skipReason = unsupported();
if (skipReason) console.log(`discovery tests skipped: ${skipReason}`);

describe.skipIf(skipReason !== null)("DISCOVERY=mdns, daemons in network namespaces", () => {
  const cleanupOnExit = () => removeNamespaces();
  beforeAll(() => {
    removeStale();
    process.on("exit", cleanupOnExit);
    makeNamespaces();
  });
  afterAll(async () => {
    await stopAll();
    removeNamespaces();
    process.off("exit", cleanupOnExit);
  });

  test("two daemons with one secret and no PEERS find each other; one with another secret is found but never alive", async () => {
    const a = startInNamespace("a", SECRET);
    const b = startInNamespace("b", SECRET);
    const c = startInNamespace("c", OTHER_SECRET);
    const started = Date.now();
    const seen: Record<string, PeerRow[] | null> = {};
    const cAliveSomewhere = () =>
      [seen.a, seen.b].some((rows) => rows?.some((p) => p.url === urlOf("c") && p.state === "alive"));
    const alive = (rows: PeerRow[] | null | undefined, m: Member) =>
      rows?.some((p) => p.name === m && p.url === urlOf(m) && p.state === "alive") ?? false;

    let both = false;
    while (!both && Date.now() - started < 20000) {
      [seen.a, seen.b, seen.c] = await Promise.all([peersOf("a"), peersOf("b"), peersOf("c")]);
      expect(cAliveSomewhere()).toBe(false);
      both = alive(seen.a, "b") && alive(seen.b, "a");
      if (!both) await Bun.sleep(300);
    }
    const logs = () => `\na: ${a.log()}\nb: ${b.log()}\nc: ${c.log()}`;
    if (!both) throw new Error(`a and b did not see each other alive: ${JSON.stringify(seen)}${logs()}`);
    console.log(`a and b alive in each other's tables ${Date.now() - started} ms after their start`);

    // C announced itself and was found; its adverts are refused (401), as ours are at C.
    const found = (log: string, m: Member) =>
      log.includes(`mDNS found a daemon: sending it our adverts url=${urlOf(m)}`);
    const refused = (log: string, m: Member) => new RegExp(`refused our advert.*url=${urlOf(m)}`).test(log);
    const deadline = Date.now() + 5000;
    while (
      !(found(a.log(), "c") && refused(a.log(), "c") && refused(c.log(), "a")) &&
      Date.now() < deadline
    ) {
      await Bun.sleep(200);
    }
    expect(found(a.log(), "c")).toBe(true);
    expect(refused(a.log(), "c")).toBe(true);
    expect(found(c.log(), "a")).toBe(true);
    expect(refused(c.log(), "a")).toBe(true);

    // Two more advert intervals: C is still never alive at A or B, and nobody is alive at C.
    await Bun.sleep(2000);
    [seen.a, seen.b, seen.c] = await Promise.all([peersOf("a"), peersOf("b"), peersOf("c")]);
    expect(cAliveSomewhere()).toBe(false);
    expect(seen.a!.map((p) => p.name)).not.toContain("c");
    expect(seen.c!.filter((p) => p.state === "alive")).toEqual([]);
    expect(alive(seen.a, "b") && alive(seen.b, "a")).toBe(true);
  }, 40000);

  test("a stopped daemon leaves no mDNS socket, no socket at all and no timer behind", async () => {
    await stopAll(); // the namespace's port 5353 is free again
    // Three starts and stops of an in-process daemon with DISCOVERY=mdns, inside namespace a. The
    // script then has to end by itself: a timer or socket left running would keep it alive.
    const code = `import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { startTestDaemon } from ${JSON.stringify(join(ROOT, "test/helpers/daemon.ts"))};
const sockets = () => readdirSync("/proc/self/fd").filter((fd) => { try { return readlinkSync("/proc/self/fd/" + fd).startsWith("socket:"); } catch { return false; } }).length;
const mdnsSockets = () => readFileSync("/proc/net/udp", "utf8").split("\\n").filter((l) => / [0-9A-F]{8}:14E9 /.test(l)).length;
const before = sockets();
const result = { before, during: [], after: [], mdnsAfter: [] };
for (let i = 0; i < 3; i++) {
  const d = await startTestDaemon({ PEER_SECRET: ${JSON.stringify(SECRET)}, DISCOVERY: "mdns", ADVERT_INTERVAL: "1" });
  await Bun.sleep(1200);
  result.during.push(mdnsSockets());
  await d.close();
  await Bun.sleep(100);
  result.after.push(sockets());
  result.mdnsAfter.push(mdnsSockets());
}
console.log(JSON.stringify(result));`;
    const result = JSON.parse(await runInNamespace("a", code, 20000)) as {
      before: number;
      during: number[];
      after: number[];
      mdnsAfter: number[];
    };
    console.log(`sockets in the script: ${JSON.stringify(result)}`);
    expect(result.during).toEqual([1, 1, 1]); // each start bound port 5353
    expect(result.mdnsAfter).toEqual([0, 0, 0]);
    expect(result.after).toEqual([result.before, result.before, result.before]);
  }, 30000);
});
