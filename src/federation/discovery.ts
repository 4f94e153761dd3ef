// DISCOVERY=mdns: daemons on one LAN segment find each other without PEERS. Each announces itself
// as an mDNS service (RFC 6762/6763) of one type, its TXT record carrying its node id and its
// ADVERTISE_URL, answers queries for that type, and browses for it. Every URL found this way only
// becomes an advert target (PeerTable.addTarget): a daemon found by mDNS joins the peer table like
// any other, by signed adverts, so one with another PEER_SECRET is refused as before. mDNS itself is
// not authenticated; it only says where to knock. Static PEERS work with or without it.

import { hostname } from "node:os";
import type makeMdns from "multicast-dns";
import type { Logger } from "../log/logger.ts";

/** The one service type every daemon announces and browses for. */
export const SERVICE_TYPE = "_pixyz-scheduler._tcp.local";
/** How long others may cache our records (seconds); we answer every query, and query ourselves. */
const RECORD_TTL_S = 120;
/** Queries go out at start, then 1 s, 2 s, 4 s... apart, at most this far apart (RFC 6762 §5.2). */
const MAX_QUERY_INTERVAL_MS = 60_000;
/** A base URL as PEERS accepts one. */
const BASE_URL = /^https?:\/\/[^/\s]+$/;

export interface DiscoverySettings {
  nodeId: string;
  nodeName: string;
  /** This daemon's ADVERTISE_URL (or the derived one), carried in its TXT record. */
  url: string;
  /** A daemon announced itself (not this one): its URL and node id, unchecked. True: a new target. */
  onFound: (url: string, nodeId: string) => boolean;
  logger: Logger;
}

type Mdns = makeMdns.MulticastDNS;
type Answer = makeMdns.ResponseOutgoingPacket["answers"][number];

export class Discovery {
  private mdns: Mdns | null = null;
  private queryTimer: ReturnType<typeof setTimeout> | null = null;
  private announceTimer: ReturnType<typeof setTimeout> | null = null;
  private queryIntervalMs = 1000;
  private readonly instance: string;
  private sendFailed = false;
  /** URLs found so far (for the log). */
  private readonly found = new Set<string>();

  constructor(private readonly settings: DiscoverySettings) {
    // A DNS label holds at most 63 bytes; the node id (a UUID) fits, anything else is cut.
    this.instance = `${settings.nodeId.replace(/[^A-Za-z0-9-]/g, "-").slice(0, 63)}.${SERVICE_TYPE}`;
  }

  start(): void {
    if (this.mdns) return;
    const { logger } = this.settings;
    // 224.0.0.251, UDP port 5353 (shared), every interface with an IPv4 address.
    // Loaded here, with DISCOVERY=mdns only: the package and node:dgram cost the daemon memory.
    const mdns = (require("multicast-dns") as typeof makeMdns)();
    this.mdns = mdns;
    mdns.on("error", (error: Error) => {
      // The port could not be bound: no discovery, static PEERS still work.
      logger.warn("mDNS discovery cannot run (static PEERS still work)", { error: error.message });
      this.stop();
    });
    mdns.on("warning", (error: Error) => logger.debug("mDNS warning", { error: error.message }));
    mdns.on("query", (query) => this.answer(query.questions));
    mdns.on("response", (response) => this.read([...response.answers, ...response.additionals]));
    mdns.on("ready", () => {
      logger.info("mDNS discovery on", { service: SERVICE_TYPE, url: this.settings.url });
      // Announce twice, a second apart (RFC 6762 §8.3), and browse.
      this.announce();
      this.announceTimer = unref(setTimeout(() => this.announce(), 1000));
      this.query();
    });
  }

  stop(): void {
    if (this.queryTimer) clearTimeout(this.queryTimer);
    if (this.announceTimer) clearTimeout(this.announceTimer);
    this.queryTimer = this.announceTimer = null;
    const mdns = this.mdns;
    this.mdns = null;
    mdns?.removeAllListeners();
    // An error from the socket after this point has no listener left to throw into.
    mdns?.on("error", () => {});
    mdns?.destroy();
  }

  /** Asks who serves our type now, then again later and later. */
  private query(): void {
    if (!this.mdns) return;
    this.send((m, done) => m.query({ questions: [{ name: SERVICE_TYPE, type: "PTR" }] }, done));
    const next = this.queryIntervalMs;
    this.queryIntervalMs = Math.min(next * 2, MAX_QUERY_INTERVAL_MS);
    this.queryTimer = unref(setTimeout(() => this.query(), next));
  }

  private announce(): void {
    this.send((m, done) => m.respond({ answers: this.records() }, done));
  }

  private send(what: (m: Mdns, done: (error?: Error | null) => void) => void): void {
    const mdns = this.mdns;
    if (!mdns) return;
    what(mdns, (error) => {
      if (!error || this.sendFailed || this.mdns !== mdns) return;
      this.sendFailed = true; // said once: the next query retries anyway
      this.settings.logger.warn("mDNS packets cannot be sent (no multicast route?)", {
        error: error.message,
      });
    });
  }

  /** PTR (type -> instance), SRV (port and host) and TXT (node id, URL, name) of this daemon. */
  private records(): Answer[] {
    const { url, nodeId, nodeName } = this.settings;
    const parsed = new URL(url);
    const port = Number(parsed.port || (parsed.protocol === "https:" ? 443 : 80));
    return [
      { name: SERVICE_TYPE, type: "PTR", ttl: RECORD_TTL_S, data: this.instance },
      {
        name: this.instance,
        type: "SRV",
        ttl: RECORD_TTL_S,
        data: { port, target: `${hostname().split(".")[0]}.local` },
      },
      {
        name: this.instance,
        type: "TXT",
        ttl: RECORD_TTL_S,
        // Each TXT string holds at most 255 bytes: the URL is a base URL, the name is cut.
        data: [`node=${nodeId}`, `url=${url}`, `name=${nodeName.slice(0, 60)}`],
      },
    ];
  }

  /** A query for our type (or our instance) gets our records, multicast. */
  private answer(questions: { name: string; type: string }[]): void {
    const asked = questions.some((q) => {
      const name = q.name.toLowerCase();
      return (
        (name === SERVICE_TYPE && (q.type === "PTR" || q.type === "ANY")) ||
        name === this.instance.toLowerCase()
      );
    });
    if (asked) this.announce();
  }

  /** TXT records of our type in a response: each names a daemon and its URL. */
  private read(records: { name: string; type: string; ttl?: number; data?: unknown }[]): void {
    for (const record of records) {
      if (record.type !== "TXT" || !record.name.toLowerCase().endsWith(`.${SERVICE_TYPE}`)) continue;
      if (record.ttl === 0) continue; // a goodbye: liveness comes from adverts, not from mDNS
      const fields = txtFields(record.data);
      const nodeId = fields.get("node");
      const url = fields.get("url")?.replace(/\/+$/, "");
      if (!nodeId || !url || nodeId === this.settings.nodeId || !BASE_URL.test(url)) continue;
      if (!this.settings.onFound(url, nodeId)) continue;
      // Said once per URL at info: one that does not answer is dropped, and found again a minute later.
      const first = !this.found.has(url);
      if (this.found.size >= 1024) this.found.clear();
      this.found.add(url);
      this.settings.logger[first ? "info" : "debug"]("mDNS found a daemon: sending it our adverts", {
        url,
        node: nodeId,
      });
    }
  }
}

function unref(timer: ReturnType<typeof setTimeout>): ReturnType<typeof setTimeout> {
  timer.unref();
  return timer;
}

/** `key=value` strings of a TXT record (dns-packet decodes it as a list of Buffers). */
function txtFields(data: unknown): Map<string, string> {
  const fields = new Map<string, string>();
  const parts = Array.isArray(data) ? data : [data];
  for (const part of parts) {
    if (!(part instanceof Uint8Array) && typeof part !== "string") continue;
    const text = typeof part === "string" ? part : Buffer.from(part).toString("utf8");
    const eq = text.indexOf("=");
    if (eq > 0) fields.set(text.slice(0, eq).toLowerCase(), text.slice(eq + 1));
  }
  return fields;
}
