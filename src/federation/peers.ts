// What this daemon knows of its peers, from their adverts. Liveness comes from adverts alone: a
// peer is `suspect` after 3 missed adverts and `gone` after 6; adverts lost on the way are counted
// from the sequence numbers. A peer that restarted (a new boot id) starts its count again.

/** One queue as a peer serves it with slots of its own (never a fallback: a CPU box offers no GPU). */
export interface AdvertQueue {
  slots: number;
  busy: number;
  waiting: number;
}

export interface Advert {
  nodeId: string;
  bootId: string;
  seq: number;
  name: string;
  url: string;
  version: string;
  queues: Record<string, AdvertQueue>;
  gpus: { model: string; vram_mb: number }[];
  draining: boolean;
  /** The sender's advert interval, in ms: how late is late for it. */
  intervalMs: number;
}

export type PeerState = "alive" | "suspect" | "gone" | "unknown";

export interface Peer {
  url: string;
  advert: Advert | null;
  lastSeen: number | null;
  lostAdverts: number;
  delegatedTo: number;
  delegatedFrom: number;
}

const SUSPECT_AFTER = 3;
const GONE_AFTER = 6;
/** The most discovered URLs kept waiting for a first advert (mDNS is not authenticated). */
const MAX_DISCOVERED = 64;
/** A discovered URL that refused our advert is not taken again for this long. */
const REFUSED_HOLD_MS = 10 * 60_000;
/** A peer not heard from for this long is forgotten (its entry, counts and metrics go). */
export const FORGET_AFTER_MS = 24 * 3600_000;

export class PeerTable {
  /** By node id once a peer has advertised; by URL for configured peers not heard from yet. */
  private readonly byNode = new Map<string, Peer>();
  private readonly unheard = new Map<string, Peer>();
  /** Unheard URLs that discovery added (PEERS entries are never among them). */
  private readonly discovered = new Set<string>();
  /** Discovered URLs that refused our advert, until when they are not taken again. */
  private readonly refused = new Map<string, number>();

  constructor(
    private readonly configured: string[],
    private readonly now: () => number = Date.now,
  ) {
    for (const url of configured) this.unheard.set(url, emptyPeer(url));
  }

  /**
   * Takes an advert in; returns what changed: a peer restarted (its boot id changed) or is new, and
   * whether the advert was taken (not a late or repeated one: the peer's counts are now its).
   */
  receive(advert: Advert): { restarted: boolean; isNew: boolean; taken: boolean } {
    let peer = this.byNode.get(advert.nodeId);
    const isNew = peer === undefined;
    if (!peer) {
      peer = this.unheard.get(advert.url) ?? emptyPeer(advert.url);
      this.byNode.set(advert.nodeId, peer);
    }
    // Heard from: its URL is no longer a separate target (discovered again after it was gone, or moved).
    this.unheard.delete(advert.url);
    this.discovered.delete(advert.url);
    const previous = peer.advert;
    const restarted = previous !== null && previous.bootId !== advert.bootId;
    if (previous && !restarted) {
      if (advert.seq <= previous.seq) return { restarted: false, isNew, taken: false }; // late or duplicated
      peer.lostAdverts += advert.seq - previous.seq - 1;
    }
    peer.advert = advert;
    peer.url = advert.url;
    peer.lastSeen = this.now();
    return { restarted, isNew, taken: true };
  }

  state(peer: Peer): PeerState {
    if (!peer.advert || peer.lastSeen === null) return "unknown";
    const missed = Math.floor((this.now() - peer.lastSeen) / peer.advert.intervalMs);
    return missed >= GONE_AFTER ? "gone" : missed >= SUSPECT_AFTER ? "suspect" : "alive";
  }

  /** Every peer, heard from or only configured (or discovered). */
  all(): Peer[] {
    const heard = new Set([...this.byNode.values()].map((p) => p.url));
    return [...this.byNode.values(), ...[...this.unheard.values()].filter((p) => !heard.has(p.url))];
  }

  /**
   * A URL where a daemon said it listens (mDNS): adverts go there as to a configured peer until it
   * answers with its own. Nothing when it is known and not gone, or refused lately. Returns whether
   * it was taken.
   */
  addTarget(url: string, nodeId?: string): boolean {
    if (this.unheard.has(url)) return false;
    const known = nodeId ? this.byNode.get(nodeId) : undefined;
    if (known && known.url === url && this.state(known) !== "gone") return false;
    for (const [refused, until] of this.refused) if (until < this.now()) this.refused.delete(refused);
    if (this.refused.has(url) || this.discovered.size >= MAX_DISCOVERED) return false;
    this.unheard.set(url, emptyPeer(url));
    this.discovered.add(url);
    return true;
  }

  /**
   * A discovered URL (never a PEERS one) whose daemon refused our advert, or did not answer, is no
   * longer a target: until discovery finds it again, and not for a while after a refusal. Returns
   * whether it was a discovered one.
   */
  dropDiscovered(url: string, refused: boolean): boolean {
    if (!this.discovered.delete(url)) return false;
    this.unheard.delete(url);
    if (refused) this.refused.set(url, this.now() + REFUSED_HOLD_MS);
    return true;
  }

  /**
   * Forgets the peers not heard from for FORGET_AFTER_MS: boxes of a fleet get retired or
   * re-imaged (a new node id), and a daemon that runs for a year must neither list them nor keep
   * them in memory forever. A PEERS entry stays a target by its URL, listed as not heard from.
   * Returns the node ids forgotten.
   */
  forgetGone(): string[] {
    const forgotten: string[] = [];
    for (const [nodeId, peer] of this.byNode) {
      if (peer.lastSeen === null || this.now() - peer.lastSeen < FORGET_AFTER_MS) continue;
      this.byNode.delete(nodeId);
      forgotten.push(nodeId);
      if (this.configured.includes(peer.url)) this.unheard.set(peer.url, emptyPeer(peer.url));
    }
    return forgotten;
  }

  get(nodeId: string): Peer | undefined {
    return this.byNode.get(nodeId);
  }

  /** Where adverts go: every configured URL (gone or not), and every other peer that is not gone. */
  targets(): string[] {
    // PEERS always: a configured peer that went gone hears from us again when it comes back, even
    // if it does not list us itself.
    const urls = new Set([...this.configured, ...this.unheard.keys()]);
    for (const peer of this.byNode.values()) if (this.state(peer) !== "gone") urls.add(peer.url);
    return [...urls];
  }

  /** Alive peers that serve `queue` with slots of their own and are not draining. */
  capable(queue: string): Peer[] {
    return [...this.byNode.values()].filter(
      (p) => this.state(p) === "alive" && !p.advert!.draining && (p.advert!.queues[queue]?.slots ?? 0) > 0,
    );
  }
}

function emptyPeer(url: string): Peer {
  return { url, advert: null, lastSeen: null, lostAdverts: 0, delegatedTo: 0, delegatedFrom: 0 };
}
