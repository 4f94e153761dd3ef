// Numbers: the last hour minute by minute from the daemon's own counters (GET /stats: jobs
// submitted and finished, waits), drawn with uPlot, and the disk and memory now. Read again when a
// job changes status (live), at most every two seconds.
import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type uPlot from "uplot";

type UPlot = typeof uPlot;
/** uPlot is loaded with this page only: the jobs page never pays for the chart library. */
let chartLibrary: Promise<UPlot> | null = null;
const loadCharts = () => {
  chartLibrary ??= import("uplot").then((m) => m.default);
  return chartLibrary;
};

import { getJson, type Stats } from "../api.ts";
import { Card, ErrorNote, Loading, Meter, PageHeader } from "../components.ts";
import { bytes, count, duration, hourMinute } from "../format.ts";
import { useLive, useThrottled } from "../live.ts";

interface Series {
  label: string;
  color: string;
  values: (number | null)[];
  bars?: boolean;
  dots?: boolean;
}

const css = (name: string) =>
  getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";

function Chart(props: {
  lib: UPlot;
  title: string;
  times: number[];
  series: Series[];
  unit: (v: number) => string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const axis = {
      stroke: css("--muted"),
      grid: { stroke: css("--grid"), width: 1 },
      ticks: { stroke: css("--grid"), width: 1 },
    };
    const UPlot = props.lib;
    const bars = UPlot.paths.bars?.({ size: [0.7, 24] });
    const opts: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height: 220,
      legend: { show: true, live: false },
      cursor: { points: { size: 6 } },
      // From zero, a little above the highest value; an empty hour shows a scale of one (a count) or
      // of a second (a wait).
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] } },
      axes: [
        {
          ...axis,
          values: (_u, ticks) => ticks.map((t) => hourMinute(t * 1000)),
        },
        { ...axis, size: 72, values: (_u, ticks) => ticks.map((t) => props.unit(t)) },
      ],
      series: [
        {
          label: "Minute",
          value: (_u, v) => (v == null ? "–" : hourMinute(v * 1000)),
        },
        ...props.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          fill: s.bars ? `${s.color}cc` : `${s.color}22`,
          paths: s.bars ? bars : undefined,
          // Waits have gaps (minutes where nothing started): a lone minute shows as a dot.
          points: { show: s.dots === true, size: 5, fill: s.color },
          value: (_u: uPlot, v: number | null) => (v == null ? "–" : props.unit(v)),
        })),
      ],
    };
    const data = [props.times, ...props.series.map((s) => s.values)] as uPlot.AlignedData;
    plot.current?.destroy();
    plot.current = new UPlot(opts, data, el);
    const resize = () => plot.current?.setSize({ width: Math.max(280, el.clientWidth), height: 220 });
    const observer = new ResizeObserver(resize);
    observer.observe(el);
    return () => observer.disconnect();
  }, [props.times, props.series]);
  useEffect(() => () => plot.current?.destroy(), []);

  const summary = props.series
    .map((s) => `${s.label}: ${props.unit(s.values.reduce<number>((a, v) => a + (v ?? 0), 0))} in the hour`)
    .join("; ");
  return html`<figure class="chart" aria-label=${`${props.title}. ${summary}`}>
    <figcaption>${props.title}</figcaption>
    <div ref=${box} class="chart-box"></div>
  </figure>`;
}

export function NumbersPage() {
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [lib, setLib] = useState<UPlot | null>(null);
  const load = () =>
    getJson<Stats>("/stats")
      .then((s) => {
        setStats(s);
        setError(null);
      })
      .catch(setError);
  useEffect(() => {
    document.title = "Numbers · pixyz-scheduler";
    load();
    loadCharts().then((m) => setLib(() => m), setError);
  }, []);
  const refresh = useThrottled(load, 2000);
  useLive((e) => {
    if (e.type === "status") refresh();
  });

  if (!stats || !lib) {
    return html`<div class="page page-wide"><${PageHeader} title="Numbers" /><${ErrorNote} error=${error} />${error ? null : html`<${Loading} />`}</div>`;
  }
  const m = stats.minutes;
  const times = m.map((x) => Date.parse(x.at) / 1000);
  const sum = (f: (x: Stats["minutes"][number]) => number) => m.reduce((a, x) => a + f(x), 0);
  const waits = m.filter((x) => x.wait_avg_s !== null);
  const started = sum((x) => x.started);
  const meanWait = started > 0 ? sum((x) => (x.wait_avg_s ?? 0) * x.started) / started : null;
  const maxWait = waits.length ? Math.max(...waits.map((x) => x.wait_max_s ?? 0)) : null;
  const { disk, memory } = stats;
  const used = memory.totalBytes - memory.availableBytes;
  const num = (v: number) => (Number.isInteger(v) ? count(v) : v.toFixed(1));
  const secs = (v: number) => (v === 0 ? "0" : v < 1 ? `${Math.round(v * 1000)} ms` : duration(v));

  return html`<div class="page page-wide">
    <${PageHeader} title="Numbers" sub="The last hour, minute by minute, from this daemon's own counters (since it started)" />
    <${ErrorNote} error=${error} />
    <div class="stat-row">
      <div class="stat"><div class="stat-label">Running now</div><div class="stat-value">${count(stats.running)}</div></div>
      <div class="stat"><div class="stat-label">Submitted</div><div class="stat-value">${count(sum((x) => x.submitted))}</div><div class="stat-sub">last hour</div></div>
      <div class="stat"><div class="stat-label">Succeeded</div><div class="stat-value ok-text">${count(sum((x) => x.succeeded))}</div><div class="stat-sub">last hour</div></div>
      <div class="stat"><div class="stat-label">Failed</div><div class="stat-value bad-text">${count(sum((x) => x.failed))}</div><div class="stat-sub">${count(sum((x) => x.revoked))} cancelled</div></div>
      <div class="stat"><div class="stat-label">Mean wait</div><div class="stat-value">${meanWait === null ? "–" : secs(meanWait)}</div><div class="stat-sub">longest ${maxWait === null ? "–" : secs(maxWait)}</div></div>
    </div>
    <div class="grid-2">
      <${Card} title="Throughput" id="throughput">
        <${Chart}
          lib=${lib}
          title="Jobs per minute"
          times=${times}
          unit=${num}
          series=${[
            { label: "Submitted", color: css("--chart-1"), values: m.map((x) => x.submitted) },
            { label: "Succeeded", color: css("--chart-2"), values: m.map((x) => x.succeeded), bars: true },
            { label: "Failed", color: css("--chart-3"), values: m.map((x) => x.failed), bars: true },
          ]}
        />
      </${Card}>
      <${Card} title="Wait before start" id="waits">
        <${Chart}
          lib=${lib}
          title="Seconds from submission (or retry) to start"
          times=${times}
          unit=${secs}
          series=${[
            { label: "Mean", color: css("--chart-1"), values: m.map((x) => x.wait_avg_s), dots: true },
            { label: "Longest", color: css("--chart-4"), values: m.map((x) => x.wait_max_s), dots: true },
          ]}
        />
      </${Card}>
    </div>
    <div class="grid-2">
      <${Card} title="Data disk" id="disk" actions=${html`<span class=${`pill pill-${disk.status === "ok" ? "ok" : "bad"}`}>${disk.status}</span>`}>
        <${Meter} used=${disk.totalBytes - disk.freeBytes} total=${disk.totalBytes} mark=${disk.totalBytes - disk.minFreeBytes} label="Data disk used" />
        <p class="meter-text"><strong>${bytes(disk.freeBytes)}</strong> free of ${bytes(disk.totalBytes)} · uploads stop under ${bytes(disk.minFreeBytes)} free (MIN_FREE_DISK)</p>
      </${Card}>
      <${Card} title="Memory" id="memory">
        <${Meter} used=${used} total=${memory.totalBytes} label="Machine memory used" />
        <p class="meter-text"><strong>${bytes(memory.availableBytes)}</strong> available of ${bytes(memory.totalBytes)} · the daemon uses ${bytes(memory.daemonRssBytes)}</p>
      </${Card}>
    </div>
  </div>`;
}
