// Peers: the other daemons this one federates with (GET /peers): state, last advert, lost adverts,
// queues and GPUs, jobs delegated each way. Shown only where federation is on.
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { getJson, type Peer } from "../api.ts";
import { Card, Empty, ErrorNote, Loading, PageHeader, useNow } from "../components.ts";
import { ago, bytes, count, fullTime, shortId } from "../format.ts";
import { useLive, useThrottled } from "../live.ts";

const STATE_TONE: Record<string, string> = { alive: "ok", suspect: "warn", gone: "bad" };

export function PeersPage({ enabled }: { enabled: boolean | null }) {
  const [peers, setPeers] = useState<Peer[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const now = useNow();
  const load = () =>
    getJson<{ peers: Peer[] }>("/peers")
      .then((a) => {
        setPeers(a.peers);
        setError(null);
      })
      .catch(setError);
  useEffect(() => {
    document.title = "Peers · pixyz-scheduler";
    if (enabled) load();
  }, [enabled]);
  // Delegations show up as job events; adverts do not (the Refresh button reads them again).
  const refresh = useThrottled(load, 2000);
  useLive((e) => {
    if (enabled && e.type === "status") refresh();
  });

  if (enabled === false) {
    return html`<div class="page"><${PageHeader} title="Peers" />
      <${Empty} title="Federation is off on this daemon">Set PEER_SECRET and the peers' addresses to share work with other daemons.</${Empty}></div>`;
  }
  return html`<div class="page page-wide">
    <${PageHeader}
      title="Peers"
      sub=${peers ? `${peers.filter((p) => p.state === "alive").length} of ${peers.length} alive` : "\u00a0"}
      actions=${html`<button type="button" class="btn" onClick=${load}>Refresh</button>`}
    />
    <${ErrorNote} error=${error} />
    ${
      peers === null
        ? html`<${Loading} />`
        : peers.length === 0
          ? html`<${Empty} title="No peer yet">Peers appear here once their first advert arrives.</${Empty}>`
          : html`<ul class="peer-grid">
              ${peers.map(
                (p) => html`<li>
                  <${Card} title=${html`${p.name ?? shortId(p.node_id ?? p.url)} <span class=${`pill pill-${STATE_TONE[p.state] ?? "neutral"}`}>${p.state}</span>${p.draining ? html` <span class="pill pill-warn">draining</span>` : null}`}>
                    <div class="muted small mono">${p.url}${p.version ? ` · v${p.version}` : ""}</div>
                    <dl class="kv kv-compact">
                      <div class="kv-item"><dt>Last seen</dt><dd title=${fullTime(p.last_seen)}>${p.last_seen ? ago(p.last_seen, now) : "never"}</dd></div>
                      <div class="kv-item"><dt>Lost adverts</dt><dd class=${p.lost_adverts > 0 ? "warn-text" : ""}>${count(p.lost_adverts)}</dd></div>
                      <div class="kv-item"><dt>Delegated to it</dt><dd>${count(p.delegated_to)}</dd></div>
                      <div class="kv-item"><dt>Taken from it</dt><dd>${count(p.delegated_from)}</dd></div>
                    </dl>
                    <h3 class="mini-title">Queues</h3>
                    ${
                      Object.keys(p.queues).length === 0
                        ? html`<p class="muted small">none advertised</p>`
                        : html`<table class="table table-compact"><caption class="sr-only">Queues of ${p.name ?? p.url}</caption>
                            <thead><tr><th scope="col">Queue</th><th scope="col" class="num">Busy / slots</th><th scope="col" class="num">Waiting</th></tr></thead>
                            <tbody>${Object.entries(p.queues).map(
                              ([name, q]) =>
                                html`<tr><td><span class="tag">${name}</span></td><td class="num">${q.busy} / ${q.slots}</td><td class="num">${count(q.waiting)}</td></tr>`,
                            )}</tbody></table>`
                    }
                    <h3 class="mini-title">GPUs</h3>
                    ${
                      p.gpus.length === 0
                        ? html`<p class="muted small">none</p>`
                        : html`<ul class="gpu-list">${p.gpus.map((g) => html`<li>${g.model} <span class="muted">· ${bytes(g.vram_mb * 1024 * 1024)}</span></li>`)}</ul>`
                    }
                  </${Card}>
                </li>`,
              )}
            </ul>`
    }
  </div>`;
}
