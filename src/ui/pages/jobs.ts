// Jobs: every stored job, newest first, a page at a time (GET /jobs/search), with filters kept in
// the address (a filtered view can be bookmarked or shared). Status and progress change live from
// /events; a new submission refreshes the first page. Selected jobs can be cancelled together.
import { html } from "htm/preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import {
  getJson,
  isFinished,
  type Queue,
  request,
  type SearchAnswer,
  STATUSES,
  type Status,
} from "../api.ts";
import { Empty, ErrorNote, PageHeader, ProgressBar, StatusBadge, useNow } from "../components.ts";
import { ago, between, count, duration, fullTime, shortId, statusLabel } from "../format.ts";
import { useLive, useThrottled } from "../live.ts";
import { Link, navigate, useRoute } from "../router.ts";

const PAGE_SIZE = 50;
/** Rows in the very first paint of the list (what a screen shows below the filters). */
const FIRST_ROWS = 12;
const FILTERS = ["status", "queue", "process", "name", "node", "when"] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

const WHEN: [string, string, number][] = [
  ["", "Any time", 0],
  ["15m", "Last 15 minutes", 15 * 60_000],
  ["1h", "Last hour", 3600_000],
  ["24h", "Last 24 hours", 86400_000],
  ["7d", "Last 7 days", 7 * 86400_000],
];

function filtersOf(query: URLSearchParams): Filters {
  return Object.fromEntries(FILTERS.map((k) => [k, query.get(k) ?? ""])) as Filters;
}

function searchUrl(filters: Filters, before: string | null): string {
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  for (const key of ["status", "queue", "process", "name", "node"] as const) {
    if (filters[key]) q.set(key, filters[key]);
  }
  const window = WHEN.find(([k]) => k === filters.when)?.[2] ?? 0;
  if (window > 0) q.set("since", new Date(Date.now() - window).toISOString());
  if (before) q.set("before", before);
  return `/jobs/search?${q}`;
}

/** Whether a job fits the filters that the list can check by itself (for live changes). */
function fits(filters: Filters, status: string, queue: string): boolean {
  if (filters.status && !filters.status.split(",").includes(status)) return false;
  if (filters.queue && filters.queue !== queue) return false;
  return true;
}

let firstPaintMarked = false;

/** The first page of the unfiltered list, asked for before the app renders (see main.ts). */
let prefetched: { url: string; answer: Promise<SearchAnswer>; ready?: SearchAnswer } | null = null;

/**
 * On a first visit to the jobs list, asks for its first page at once (the page preloads it) and
 * resolves once it is here or `capMs` passed: the app's first paint then has the jobs in it, one
 * layout instead of two.
 */
export function prefetchJobs(capMs: number): Promise<unknown> {
  const route = new URLSearchParams(location.search);
  if (!/^\/ui(\/jobs)?\/?$/.test(location.pathname) || route.size > 0) return Promise.resolve();
  const url = searchUrl(filtersOf(route), null);
  const entry: NonNullable<typeof prefetched> = { url, answer: getJson<SearchAnswer>(url) };
  entry.answer.then(
    (answer) => {
      entry.ready = answer;
    },
    () => {},
  );
  prefetched = entry;
  return Promise.race([prefetched.answer.catch(() => null), new Promise((r) => setTimeout(r, capMs))]);
}

/** The prefetched first page when it is already here (the first render then has the rows). */
function takeReady(url: string): SearchAnswer | null {
  if (prefetched?.url !== url || !prefetched.ready) return null;
  const { ready } = prefetched;
  prefetched = null;
  return ready;
}

function firstLoad(url: string): Promise<SearchAnswer> {
  const taken = prefetched?.url === url ? prefetched.answer : null;
  prefetched = null;
  return taken ?? getJson<SearchAnswer>(url);
}

export function JobsPage() {
  const route = useRoute();
  const filters = filtersOf(route.query);
  const before = route.query.get("before");
  const key = searchUrl({ ...filters, when: "" }, before) + filters.when;
  const [data, setData] = useState<SearchAnswer | null>(() => takeReady(searchUrl(filters, before)));
  const [error, setError] = useState<unknown>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [notice, setNotice] = useState<string | null>(null);
  const [queues, setQueues] = useState<string[]>([]);
  const [processes, setProcesses] = useState<string[]>([]);
  const [nameInput, setNameInput] = useState(filters.name);
  const [nodeInput, setNodeInput] = useState(filters.node);
  // The first paint lays out the rows a screen holds; the others follow in the next frame.
  const [allRows, setAllRows] = useState(firstPaintMarked);
  const cursors = useRef<string[]>([]);
  const loadSeq = useRef(0);
  const now = useNow();

  useEffect(() => {
    document.title = "Jobs · pixyz-scheduler";
  }, []);
  // The filter menus' choices, once the list is on screen.
  const haveData = data !== null;
  useEffect(() => {
    if (!haveData) return;
    getJson<{ queues: Queue[] }>("/queues")
      .then((a) => setQueues(a.queues.map((q) => q.name)))
      .catch(() => {});
    getJson<{ processes: string[] }>("/processes")
      .then((a) => setProcesses(["custom", ...a.processes]))
      .catch(() => {});
  }, [haveData]);

  const load = async () => {
    const seq = ++loadSeq.current;
    try {
      const answer = await firstLoad(searchUrl(filters, before));
      if (seq !== loadSeq.current) return;
      setData(answer);
      setError(null);
    } catch (err) {
      if (seq === loadSeq.current) setError(err);
    }
  };

  // A layout effect: the request leaves as the page is built, not a frame later.
  const fromPrefetch = useRef(data !== null);
  useLayoutEffect(() => {
    if (fromPrefetch.current) {
      fromPrefetch.current = false;
      return;
    }
    load();
  }, [key]);

  useLayoutEffect(() => {
    if (!data || firstPaintMarked) return;
    firstPaintMarked = true;
    // Committed; the frame after the next animation frame has painted it. The browser test reads
    // this mark (with the browser's first-contentful-paint) as the first meaningful paint. Then the
    // rest of the page's rows.
    requestAnimationFrame(() =>
      setTimeout(() => {
        performance.mark("pixyz:jobs-painted");
        // Once the browser is idle: the frame with the first rows is rastered and shown first.
        const idle = window.requestIdleCallback ?? ((f: () => void) => setTimeout(f, 50));
        idle(() => setAllRows(true), { timeout: 300 });
      }, 0),
    );
  }, [data]);

  const refresh = useThrottled(load, 1000);
  useLive((event) => {
    // Still being read: that read may predate this event. Read the list again.
    if (!data) return refresh();
    if (event.type === "progress") {
      if (!data.jobs.some((j) => j.uuid === event.job)) return;
      setData({
        ...data,
        jobs: data.jobs.map((j) =>
          j.uuid === event.job ? { ...j, progress: event.progress, step: event.step ?? j.step } : j,
        ),
      });
      return;
    }
    const counts = { ...data.counts };
    if (event.from) counts[event.from] = Math.max(0, (counts[event.from] ?? 0) - 1);
    counts[event.to] = (counts[event.to] ?? 0) + 1;
    const shown = data.jobs.some((j) => j.uuid === event.job);
    setData({
      ...data,
      counts,
      jobs: shown
        ? data.jobs.map((j) =>
            j.uuid === event.job
              ? {
                  ...j,
                  status: event.to,
                  queue: event.queue,
                  progress: event.to === "SUCCESS" ? 100 : j.progress,
                  started: event.to === "STARTED" ? event.at : j.started,
                  stopped: isFinished(event.to) ? event.at : j.stopped,
                }
              : j,
          )
        : data.jobs,
    });
    // A job on this page changed (its node, slot, error are in the list), or a new job may belong on
    // the first page: read the page again, at most once a second.
    if (shown || (before === null && event.from === null && fits(filters, event.to, event.queue))) refresh();
  });

  const setFilter = (patch: Partial<Filters>) => {
    const next = { ...filters, ...patch };
    const q = new URLSearchParams();
    for (const k of FILTERS) if (next[k]) q.set(k, next[k]);
    cursors.current = [];
    setSelected(new Set());
    navigate(`/ui/jobs${q.size ? `?${q}` : ""}`, { replace: true });
  };

  // Text filters apply once typing pauses.
  useEffect(() => {
    if (nameInput === filters.name && nodeInput === filters.node) return;
    const t = setTimeout(() => setFilter({ name: nameInput.trim(), node: nodeInput.trim() }), 300);
    return () => clearTimeout(t);
  }, [nameInput, nodeInput]);

  const goPage = (cursor: string | null, back: boolean) => {
    const q = new URLSearchParams(route.query);
    if (!back && before) cursors.current.push(before);
    if (cursor) q.set("before", cursor);
    else q.delete("before");
    setSelected(new Set());
    navigate(`/ui/jobs?${q}`);
  };

  const jobs = data?.jobs ?? [];
  const cancellable = jobs.filter((j) => selected.has(j.uuid) && !isFinished(j.status));
  const allSelected = jobs.length > 0 && jobs.every((j) => selected.has(j.uuid));
  const toggle = (uuid: string) => {
    const next = new Set(selected);
    if (next.has(uuid)) next.delete(uuid);
    else next.add(uuid);
    setSelected(next);
  };

  const cancelSelected = async () => {
    const results = await Promise.allSettled(
      cancellable.map((j) => request(`/jobs/${j.uuid}`, { method: "DELETE" }, [409])),
    );
    const done = results.filter((r) => r.status === "fulfilled" && r.value.status === 200).length;
    const failed = results.length - done;
    setNotice(
      `Cancelled ${done} job${done === 1 ? "" : "s"}${failed ? `; ${failed} had already finished or failed to cancel` : ""}.`,
    );
    setSelected(new Set());
    load();
  };

  const total = data ? Object.values(data.counts).reduce((a, b) => a + b, 0) : null;
  const statusSet = new Set(filters.status ? filters.status.split(",") : []);
  const chipClick = (s: Status | "") => setFilter({ status: s === "" || statusSet.has(s) ? "" : s });
  const anyFilter = FILTERS.some((k) => filters[k]);

  const rows = useMemo(
    () =>
      (allRows ? jobs : jobs.slice(0, FIRST_ROWS)).map(
        (j, i) => html`<tr key=${j.uuid} class=${selected.has(j.uuid) ? "selected" : ""}>
          <td class="col-check">
            <input type="checkbox" checked=${selected.has(j.uuid)} onChange=${() => toggle(j.uuid)}
              aria-label=${`Select job ${j.name ?? shortId(j.uuid)}`} />
          </td>
          <td class="col-job">
            <${Link} href=${`/ui/jobs/${j.uuid}`} class="job-link">
              <span class=${j.name ? "job-name" : "job-name unnamed"} elementtiming=${i === 0 ? "jobs-first-row" : undefined}
                >${j.name ?? `${j.process === "custom" ? "Script" : j.process} job`}</span
              >
            </${Link}>
            <div class="job-sub">
              <code class="uuid" title=${j.uuid}>${shortId(j.uuid)}</code>
              ${
                j.parent
                  ? html`<span class="sep">·</span><span class="muted">child of </span
                      ><${Link} href=${`/ui/jobs/${j.parent}`} class="mono">${shortId(j.parent)}</${Link}>`
                  : null
              }
              ${j.retry > 0 ? html`<span class="tag tag-warn" title="Retries after infrastructure failures">retried ×${j.retry}</span>` : null}
            </div>
            ${j.error && j.status !== "SUCCESS" ? html`<div class="job-error" title=${j.error}>${j.error}</div>` : null}
          </td>
          <td class="col-status"><${StatusBadge} status=${j.status} /></td>
          <td class="col-progress">
            <${ProgressBar} value=${j.progress} status=${j.status} label=${`Progress of ${j.name ?? shortId(j.uuid)}`} />
            ${j.step && j.status === "STARTED" ? html`<div class="step-text" title=${j.step}>${j.step}</div>` : null}
          </td>
          <td class="col-process">${j.process}</td>
          <td class="col-queue"><span class="tag">${j.queue}</span></td>
          <td class="col-node">
            ${j.slot ? html`<span class="mono">${j.slot}</span>` : html`<span class="muted">–</span>`}
            ${j.node ? html`<div class="muted small mono" title=${`node ${j.node}`}>${shortId(j.node)}</div>` : null}
          </td>
          <td class="col-time" title=${fullTime(j.requested)}>${ago(j.requested, now)}</td>
          <td class="col-duration num">
            ${j.started ? duration(between(j.started, j.stopped, now)) : html`<span class="muted">–</span>`}
          </td>
        </tr>`,
      ),
    [jobs, selected, now, allRows],
  );

  return html`<div class="page page-wide">
    <${PageHeader}
      title="Jobs"
      sub=${total === null ? "\u00a0" : `${count(total)} stored job${total === 1 ? "" : "s"}`}
      actions=${html`<${Link} href="/ui/processes" class="btn btn-primary">New job</${Link}>`}
    />

    <div class="chips" role="group" aria-label="Filter by status">
      <button type="button" class="chip" aria-pressed=${statusSet.size === 0 ? "true" : "false"} onClick=${() => chipClick("")}>
        All <span class="chip-count">${total === null ? "" : count(total)}</span>
      </button>
      ${STATUSES.map(
        (
          s,
        ) => html`<button type="button" class=${`chip chip-${s.toLowerCase()}`} aria-pressed=${statusSet.has(s) ? "true" : "false"}
          onClick=${() => chipClick(s)}>
          <span class="dot" aria-hidden="true"></span>${statusLabel[s]}
          <span class="chip-count">${data ? count(data.counts[s] ?? 0) : ""}</span>
        </button>`,
      )}
    </div>

    <form class="filters" role="search" aria-label="Filter jobs" onSubmit=${(e: Event) => e.preventDefault()}>
      <div class="field">
        <label for="f-name">Name or uuid</label>
        <input id="f-name" type="search" placeholder="Search…" value=${nameInput}
          onInput=${(e: Event) => setNameInput((e.target as HTMLInputElement).value)} />
      </div>
      <div class="field">
        <label for="f-status">Status</label>
        <select id="f-status" value=${filters.status} onChange=${(e: Event) => setFilter({ status: (e.target as HTMLSelectElement).value })}>
          <option value="">Any status</option>
          ${STATUSES.map((s) => html`<option value=${s}>${statusLabel[s]} (${s})</option>`)}
          ${filters.status && !STATUSES.includes(filters.status as Status) ? html`<option value=${filters.status}>${filters.status}</option>` : null}
        </select>
      </div>
      <div class="field">
        <label for="f-queue">Queue</label>
        <select id="f-queue" value=${filters.queue} onChange=${(e: Event) => setFilter({ queue: (e.target as HTMLSelectElement).value })}>
          <option value="">Any queue</option>
          ${[...new Set([...queues, ...(filters.queue ? [filters.queue] : [])])].map((q) => html`<option value=${q}>${q}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="f-process">Process</label>
        <select id="f-process" value=${filters.process} onChange=${(e: Event) => setFilter({ process: (e.target as HTMLSelectElement).value })}>
          <option value="">Any process</option>
          ${[...new Set([...processes, ...(filters.process ? [filters.process] : [])])].map(
            (p) => html`<option value=${p}>${p === "custom" ? "custom (uploaded script)" : p}</option>`,
          )}
        </select>
      </div>
      <div class="field">
        <label for="f-node">Node</label>
        <input id="f-node" type="text" placeholder="Node id" value=${nodeInput} spellcheck="false"
          onInput=${(e: Event) => setNodeInput((e.target as HTMLInputElement).value)} />
      </div>
      <div class="field">
        <label for="f-when">Submitted</label>
        <select id="f-when" value=${filters.when} onChange=${(e: Event) => setFilter({ when: (e.target as HTMLSelectElement).value })}>
          ${WHEN.map(([k, label]) => html`<option value=${k}>${label}</option>`)}
        </select>
      </div>
      ${
        anyFilter
          ? html`<button type="button" class="btn btn-ghost filters-clear" onClick=${() => {
              setNameInput("");
              setNodeInput("");
              navigate("/ui/jobs", { replace: true });
            }}>Clear filters</button>`
          : null
      }
    </form>

    ${notice ? html`<div class="note note-info" role="status">${notice}<button type="button" class="note-close" aria-label="Dismiss" onClick=${() => setNotice(null)}>×</button></div>` : null}
    <${ErrorNote} error=${error} />

    <div class="table-card">
      <div class="table-toolbar">
        <span class="muted" aria-live="polite">${selected.size > 0 ? `${selected.size} selected` : ""}</span>
        <button type="button" class="btn btn-danger btn-sm" disabled=${cancellable.length === 0} onClick=${cancelSelected}>
          Cancel selected${cancellable.length ? ` (${cancellable.length})` : ""}
        </button>
      </div>
      <div class="table-scroll">
        <table class="table jobs-table">
          <caption class="sr-only">Jobs, newest first</caption>
          <colgroup>
            <col class="w-check" /><col /><col class="w-status" /><col class="w-progress" /><col class="w-process" />
            <col class="w-queue" /><col class="w-node" /><col class="w-time" /><col class="w-duration" />
          </colgroup>
          <thead>
            <tr>
              <th class="col-check" scope="col">
                <input type="checkbox" checked=${allSelected} disabled=${jobs.length === 0} aria-label="Select every job on this page"
                  onChange=${() => setSelected(allSelected ? new Set() : new Set(jobs.map((j) => j.uuid)))} />
              </th>
              <th scope="col">Job</th>
              <th scope="col">Status</th>
              <th scope="col">Progress</th>
              <th scope="col">Process</th>
              <th scope="col">Queue</th>
              <th scope="col">Slot</th>
              <th scope="col">Submitted</th>
              <th scope="col" class="num">Duration</th>
            </tr>
          </thead>
          <tbody>${rows}</tbody>
        </table>
        ${
          data && jobs.length === 0
            ? html`<${Empty} title=${anyFilter ? "No job matches these filters" : "No jobs yet"}>
                ${anyFilter ? "Change or clear the filters." : html`Submit one from <${Link} href="/ui/processes">Processes</${Link}>.`}
              </${Empty}>`
            : null
        }
        ${!data && !error ? html`<div class="table-skeleton" aria-busy="true" aria-label="Loading jobs"></div>` : null}
      </div>
      <nav class="pager" aria-label="Pages">
        <button type="button" class="btn btn-sm" disabled=${!before} onClick=${() => goPage(null, true)}>Newest</button>
        <button type="button" class="btn btn-sm" disabled=${!before}
          onClick=${() => goPage(cursors.current.pop() ?? null, true)}>← Newer</button>
        <button type="button" class="btn btn-sm" disabled=${!data?.next}
          onClick=${() => data?.next && goPage(String(data.next), false)}>Older →</button>
      </nav>
    </div>
  </div>`;
}
