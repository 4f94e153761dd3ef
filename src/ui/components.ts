// The small pieces every page uses: status badges, progress bars, cards, empty states, errors.
import { html } from "htm/preact";
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { statusLabel } from "./format.ts";

export function StatusBadge({ status }: { status: string }) {
  return html`<span class=${`badge st-${status.toLowerCase()}`} data-status=${status} title=${status}
    ><span class="dot" aria-hidden="true"></span>${statusLabel[status] ?? status}</span
  >`;
}

export function ProgressBar(props: { value: number | null; status: string; label?: string }) {
  const value = props.value ?? 0;
  const waiting = props.status === "PENDING" || props.status === "RETRY";
  return html`<div class="progress-wrap">
    <div
      class=${`progress st-${props.status.toLowerCase()}`}
      role="progressbar"
      aria-label=${props.label ?? "Progress"}
      aria-valuemin="0"
      aria-valuemax="100"
      aria-valuenow=${waiting ? undefined : value}
    >
      <div class="progress-fill" style=${{ width: `${waiting ? 0 : value}%` }}></div>
    </div>
    <span class="progress-num">${waiting ? "–" : `${value}%`}</span>
  </div>`;
}

export function PageHeader(props: {
  title: ComponentChildren;
  sub?: ComponentChildren;
  actions?: ComponentChildren;
}) {
  return html`<header class="page-header">
    <div class="page-title">
      <h1 id="page-title" tabindex="-1">${props.title}</h1>
      ${props.sub ? html`<div class="page-sub">${props.sub}</div>` : null}
    </div>
    ${props.actions ? html`<div class="page-actions">${props.actions}</div>` : null}
  </header>`;
}

export function Card(props: {
  title?: ComponentChildren;
  actions?: ComponentChildren;
  children?: ComponentChildren;
  class?: string;
  id?: string;
}) {
  const headingId = props.id ? `${props.id}-title` : undefined;
  return html`<section class=${`card ${props.class ?? ""}`} id=${props.id} aria-labelledby=${headingId}>
    ${
      props.title || props.actions
        ? html`<div class="card-head">
            ${props.title ? html`<h2 id=${headingId}>${props.title}</h2>` : html`<span></span>`}
            ${props.actions ? html`<div class="card-actions">${props.actions}</div>` : null}
          </div>`
        : null
    }
    <div class="card-body">${props.children}</div>
  </section>`;
}

export function Empty(props: { title: string; children?: ComponentChildren }) {
  return html`<div class="empty"><p class="empty-title">${props.title}</p>${
    props.children ? html`<p class="empty-text">${props.children}</p>` : null
  }</div>`;
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  return html`<div class="note note-error" role="alert">${message}</div>`;
}

export function Loading({ label = "Loading" }: { label?: string }) {
  return html`<div class="loading" role="status"><span class="spinner" aria-hidden="true"></span>${label}…</div>`;
}

/** A number that ticks every second (elapsed times), with one shared timer. */
const tickers = new Set<(n: number) => void>();
let tickTimer: ReturnType<typeof setInterval> | null = null;
export function useNow(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    tickers.add(setNow);
    tickTimer ??= setInterval(() => {
      const n = Date.now();
      for (const t of tickers) t(n);
    }, 1000);
    return () => {
      tickers.delete(setNow);
      if (tickers.size === 0 && tickTimer) {
        clearInterval(tickTimer);
        tickTimer = null;
      }
    };
  }, []);
  return now;
}

export function KeyValues({ items }: { items: [string, ComponentChildren][] }) {
  return html`<dl class="kv">
    ${items.map(([k, v]) => html`<div class="kv-item"><dt>${k}</dt><dd>${v ?? "–"}</dd></div>`)}
  </dl>`;
}

export function Meter(props: { used: number; total: number; label: string; warnAt?: number; mark?: number }) {
  const pct = props.total > 0 ? Math.min(100, (props.used / props.total) * 100) : 0;
  const level = pct >= (props.warnAt ?? 90) ? "meter-warn" : "";
  return html`<div class="meter ${level}" role="meter" aria-label=${props.label} aria-valuemin="0"
      aria-valuemax="100" aria-valuenow=${Math.round(pct)}>
    <div class="meter-fill" style=${{ width: `${pct}%` }}></div>
    ${
      props.mark !== undefined && props.total > 0
        ? html`<div class="meter-mark" style=${{ left: `${Math.min(100, (props.mark / props.total) * 100)}%` }}
            title="MIN_FREE_DISK"></div>`
        : null
    }
  </div>`;
}

export const Logo = () => html`<svg class="logo" viewBox="0 0 32 32" aria-hidden="true" focusable="false">
  <path d="M16 2 28 9v14l-12 7-12-7V9z" class="logo-back" />
  <path d="M16 9.5 22 13v7l-6 3.5-6-3.5v-7z" class="logo-front" />
</svg>`;
