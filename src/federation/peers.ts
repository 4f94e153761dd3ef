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

export class PeerTable {
  /** By node id once a peer has advertised; by URL for configured peers not heard from yet. */
  private readonly byNode = new Map<string, Peer>();
  private readonly unheard = new Map<string, Peer>();

  constructor(
    configured: string[],
    private readonly now: () => number = Date.now,
  ) {
    for (const url of configured) this.unheard.set(url, emptyPeer(url));
  }

  /** Takes an advert in; returns what changed: a peer restarted (its boot id changed) or is new. */
  receive(advert: Advert): { restarted: boolean; isNew: boolean } {
    let peer = this.byNode.get(advert.nodeId);
    const isNew = peer === undefined;
    if (!peer) {
      peer = this.unheard.get(advert.url) ?? emptyPeer(advert.url);
      this.unheard.delete(advert.url);
      this.byNode.set(advert.nodeId, peer);
    }
    const previous = peer.advert;
    const restarted = previous !== null && previous.bootId !== advert.bootId;
    if (previous && !restarted) {
      if (advert.seq <= previous.seq) return { restarted: false, isNew }; // late or duplicated
      peer.lostAdverts += advert.seq - previous.seq - 1;
    }
    peer.advert = advert;
    peer.url = advert.url;
    peer.lastSeen = this.now();
    return { restarted, isNew };
  }

  state(peer: Peer): PeerState {
    if (!peer.advert || peer.lastSeen === null) return "unknown";
    const missed = Math.floor((this.now() - peer.lastSeen) / peer.advert.intervalMs);
    return missed >= GONE_AFTER ? "gone" : missed >= SUSPECT_AFTER ? "suspect" : "alive";
  }

  /** Every peer, heard from or only configured. */
  all(): Peer[] {
    return [...this.byNode.values(), ...this.unheard.values()];
  }

  get(nodeId: string): Peer | undefined {
    return this.byNode.get(nodeId);
  }

  /** Where adverts go: every configured URL, and every peer heard from that is not gone. */
  targets(): string[] {
    const urls = new Set(this.unheard.keys());
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
