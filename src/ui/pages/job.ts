// One job: its state, times, steps, attempts, live log, result and outputs; cancel and retry.
// Status and progress come live from /events; the log from /jobs/{uuid}/logs?follow=true.
import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiFailure, getJson, isFinished, type JobDetails, request, type Step, sendJson } from "../api.ts";
import {
  Card,
  Empty,
  ErrorNote,
  KeyValues,
  Loading,
  PageHeader,
  ProgressBar,
  StatusBadge,
  useNow,
} from "../components.ts";
import { between, bytes, clock, duration, fullTime, shortId } from "../format.ts";
import { useLive, useThrottled } from "../live.ts";
import { Link, navigate, useRoute } from "../router.ts";

/** The log tail keeps this many characters on screen. */
const LOG_KEEP = 200_000;
/** A long log is followed from this many bytes before its end. */
const LOG_TAIL = 64 * 1024;

const CAUSES: Record<string, string> = {
  success: "returned a result",
  exception: "the script threw",
  exit: "exited without a result",
  signal: "killed by a signal",
  timeout: "over its time limit",
  memory: "over its memory limit",
  log: "log over its limit",
  revoked: "cancelled",
  spawn: "could not start",
  disk: "outputs not written to disk",
  stopped: "stopped with the daemon",
  lost: "lost in a daemon crash",
};

function Steps({
  steps,
  running,
  now,
  startedAt,
}: {
  steps: Step[];
  running: boolean;
  now: number;
  startedAt: string | null;
}) {
  if (steps.length === 0) return html`<p class="muted">The script reported no steps.</p>`;
  // An open step (-1) has lasted since the end of the previous ones.
  const closed = steps.reduce((a, s) => a + Math.max(s.duration, 0), 0);
  const openFor = startedAt ? Math.max(0, (now - Date.parse(startedAt)) / 1000 - closed) : 0;
  const lengths = steps.map((s) => (s.duration < 0 ? (running ? openFor : 0) : s.duration));
  const longest = Math.max(...lengths, 0.001);
  return html`<ol class="steps">
    ${steps.map((s, i) => {
      const open = s.duration < 0;
      return html`<li class=${`step ${open && running ? "step-open" : ""} ${open && !running ? "step-cut" : ""}`}>
        <span class="step-mark" aria-hidden="true"></span>
        <span class="step-info">${s.info}</span>
        <span class="step-bar" aria-hidden="true"><span style=${{ width: `${Math.max(2, (lengths[i]! / longest) * 100)}%` }}></span></span>
        <span class="step-time num">${open ? (running ? `${duration(openFor)} so far` : "not finished") : duration(s.duration)}</span>
      </li>`;
    })}
  </ol>`;
}

function LogTail({ uuid, finished }: { uuid: string; finished: boolean }) {
  const [text, setText] = useState("");
  const [state, setState] = useState<"loading" | "following" | "ended" | "gone" | "error">("loading");
  const [cut, setCut] = useState(false);
  const box = useRef<HTMLPreElement>(null);
  const stick = useRef(true);

  useEffect(() => {
    let es: EventSource | null = null;
    let closed = false;
    (async () => {
      try {
        const head = await request(`/jobs/${uuid}/logs`, { method: "HEAD" }, [410]);
        if (head.status === 410) {
          setState("gone");
          return;
        }
        const size = Number(head.headers.get("x-log-size") ?? "0");
        const offset = size > LOG_TAIL ? size - LOG_TAIL : 0;
        setCut(offset > 0);
        if (closed) return;
        es = new EventSource(`/jobs/${uuid}/logs?follow=true&offset=${offset}`);
        setState("following");
        es.addEventListener("log", (e) => {
          const { text: chunk } = JSON.parse((e as MessageEvent).data) as { text: string };
          setText((t) => {
            const next = t + chunk;
            if (next.length > LOG_KEEP) {
              setCut(true);
              return next.slice(next.length - LOG_KEEP);
            }
            return next;
          });
        });
        const end = () => {
          es?.close();
          setState("ended");
        };
        es.addEventListener("end", end);
        es.addEventListener("closing", end);
        es.onerror = () => {
          if (es?.readyState === EventSource.CLOSED) setState("error");
        };
      } catch {
        setState("error");
      }
    })();
    return () => {
      closed = true;
      es?.close();
    };
  }, [uuid]);

  useEffect(() => {
    const el = box.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [text]);

  const label =
    state === "following"
      ? finished
        ? "Reading"
        : "Following live"
      : state === "ended"
        ? "Complete"
        : state === "gone"
          ? "Removed"
          : state === "error"
            ? "Disconnected"
            : "Loading";
  return html`<${Card}
    title="Log"
    id="log"
    actions=${html`<span class=${`log-state log-${state}`}>${label}</span>
      <a class="btn btn-sm" href=${`/jobs/${uuid}/logs`} target="_blank" rel="noopener">Open raw</a>`}
  >
    ${
      state === "gone"
        ? html`<p class="muted">The cleanup removed this job's files, its log with them.</p>`
        : html`<pre class="log" ref=${box} tabindex="0" aria-label="Job log" aria-live="off"
            onScroll=${(e: Event) => {
              const el = e.target as HTMLElement;
              stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
            }}
          >${cut ? html`<span class="log-cut">… earlier lines are not shown; open the raw log for all of it\n</span>` : null}${text || (state === "loading" ? "" : html`<span class="muted">Nothing written yet.</span>`)}</pre>`
    }
  </${Card}>`;
}

function Outputs({ uuid, job }: { uuid: string; job: JobDetails }) {
  const [files, setFiles] = useState<string[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [zip, setZip] = useState<"idle" | "building" | "error">("idle");
  const finished = isFinished(job.status);

  useEffect(() => {
    if (job.files_cleaned_at) return;
    getJson<{ outputs: string[] }>(`/jobs/${uuid}/outputs`)
      .then((a) => setFiles(a.outputs))
      .catch(setError);
  }, [uuid, job.status]);

  const downloadAll = async () => {
    setZip("building");
    const url = `/jobs/${uuid}/outputs/archive`;
    for (;;) {
      try {
        // One byte tells whether the zip is ready (425 while it is built); then the browser downloads it.
        const res = await request(url, { headers: { Range: "bytes=0-0" } }, [416, 425]);
        if (res.status === 425) {
          const wait = Number(res.headers.get("retry-after") ?? "1");
          await new Promise((r) => setTimeout(r, Math.min(10, Math.max(0.5, wait)) * 1000));
          continue;
        }
        location.assign(url);
        setZip("idle");
        return;
      } catch (err) {
        setError(err);
        setZip("error");
        return;
      }
    }
  };

  if (job.files_cleaned_at) {
    return html`<${Card} title="Outputs" id="outputs"><p class="muted">The cleanup removed this job's files on ${fullTime(job.files_cleaned_at)}.</p></${Card}>`;
  }
  return html`<${Card}
    title="Outputs"
    id="outputs"
    actions=${
      finished && files && files.length > 0
        ? html`<button type="button" class="btn btn-sm" onClick=${downloadAll} disabled=${zip === "building"}>
            ${zip === "building" ? "Preparing the zip…" : "Download all (.zip)"}
          </button>`
        : null
    }
  >
    <${ErrorNote} error=${error} />
    ${
      files === null
        ? html`<${Loading} label="Reading the outputs" />`
        : files.length === 0
          ? html`<p class="muted">${finished ? "The job wrote no output files." : "No output files yet."}</p>`
          : html`<ul class="files">
              ${files.map(
                (f) => html`<li>
                  <svg class="file-icon" viewBox="0 0 24 24" aria-hidden="true"><path d="M6 3h8l4 4v14H6zM14 3v4h4" /></svg>
                  <a href=${`/jobs/${uuid}/outputs/${f.split("/").map(encodeURIComponent).join("/")}`} download>${f}</a>
                </li>`,
              )}
            </ul>`
    }
  </${Card}>`;
}

export function JobPage({ uuid }: { uuid: string }) {
  const route = useRoute();
  const [job, setJob] = useState<JobDetails | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [confirmCancel, setConfirmCancel] = useState(false);
  const [busy, setBusy] = useState(false);
  const now = useNow();
  const retryOf = route.query.get("retry_of");
  const followUps = useRef(0);
  const reads = useRef(0);

  const load = async () => {
    // Only the latest read counts: an earlier one can answer later with an older state.
    const read = ++reads.current;
    try {
      const details = await getJson<JobDetails>(`/jobs/${uuid}/details`);
      if (read !== reads.current) return;
      setJob(details);
      setError(null);
    } catch (err) {
      if (read === reads.current) setError(err);
    }
  };
  useEffect(() => {
    setJob(null);
    followUps.current = 0;
    setConfirmCancel(false);
    setActionError(null);
    load();
  }, [uuid]);
  useEffect(() => {
    document.title = `${job?.name ?? `Job ${shortId(uuid)}`} · pixyz-scheduler`;
  }, [job?.name, uuid]);

  const refresh = useThrottled(load, 300);
  // A cancelled or stopped attempt closes a moment after the job's status changed (its process
  // group gets up to 2 s), with no event of its own: read the job again a few times until it has.
  const attemptOpen = job !== null && isFinished(job.status) && job.attempts.some((a) => a.stopped === null);
  useEffect(() => {
    if (!attemptOpen || followUps.current >= 5) return;
    const t = setTimeout(() => {
      followUps.current++;
      load();
    }, 1000);
    return () => clearTimeout(t);
  }, [attemptOpen, job]);
  useLive((event) => {
    if (event.job !== uuid) return;
    // Still being read: that read may predate this event (a job that ended while its page
    // opened would show its old state for good). Read it again.
    if (!job) return refresh();
    if (event.type === "progress") {
      setJob({ ...job, progress: event.progress, steps: event.steps });
    } else {
      setJob({ ...job, status: event.to, queue: event.queue });
      refresh();
    }
  });

  const cancel = async () => {
    setBusy(true);
    setActionError(null);
    try {
      await request(`/jobs/${uuid}`, { method: "DELETE" });
      setConfirmCancel(false);
      await load();
    } catch (err) {
      setActionError(err);
    } finally {
      setBusy(false);
    }
  };
  const retry = async () => {
    setBusy(true);
    setActionError(null);
    try {
      const answer = await sendJson<{ uuid: string }>(`/jobs/${uuid}/retry`, "POST");
      navigate(`/ui/jobs/${answer.uuid}?retry_of=${uuid}`);
    } catch (err) {
      setActionError(err);
    } finally {
      setBusy(false);
    }
  };

  if (error && !job) {
    const missing = error instanceof ApiFailure && error.status === 404;
    return html`<div class="page">
      <${PageHeader} title=${missing ? "Job not found" : "Job"} />
      ${missing ? html`<${Empty} title=${`No job ${uuid}`}><${Link} href="/ui/jobs">Back to the jobs</${Link}></${Empty}>` : html`<${ErrorNote} error=${error} />`}
    </div>`;
  }
  if (!job) {
    return html`<div class="page"><${PageHeader} title=${`Job ${shortId(uuid)}`} /><${Loading} label="Reading the job" /></div>`;
  }

  const finished = isFinished(job.status);
  const running = job.status === "STARTED";
  const t = job.time_info;
  const lastAttempt = job.attempts.at(-1);
  const actions = html`
    ${
      !finished
        ? html`<button type="button" class="btn btn-danger" onClick=${() => setConfirmCancel(true)} disabled=${busy || confirmCancel}>Cancel job</button>`
        : html`<button type="button" class="btn btn-primary" onClick=${retry} disabled=${busy}>Retry as a new job</button>`
    }`;

  return html`<div class="page">
    <nav class="crumbs" aria-label="Breadcrumb"><${Link} href="/ui/jobs">Jobs</${Link}> <span aria-hidden="true">/</span> <span>${shortId(uuid)}</span></nav>
    <${PageHeader}
      title=${html`${job.name ?? html`<span class="unnamed">${job.process === "custom" ? "Script" : job.process} job</span>`} <${StatusBadge} status=${job.status} />`}
      sub=${html`<code class="uuid-full">${uuid}</code>`}
      actions=${actions}
    />
    ${
      retryOf
        ? html`<div class="note note-info" role="status">A new job that repeats <${Link} href=${`/ui/jobs/${retryOf}`} class="mono">${shortId(retryOf)}</${Link}> with the same script, inputs, params and config.</div>`
        : null
    }
    ${
      confirmCancel
        ? html`<div class="note note-warn confirm" role="alertdialog" aria-labelledby="confirm-text">
            <span id="confirm-text">Cancel this job? ${running ? "Its processes are stopped now." : "It will never start."} Its unfinished child jobs are cancelled too.</span>
            <span class="confirm-actions">
              <button type="button" class="btn btn-sm" onClick=${() => setConfirmCancel(false)}>Keep it</button>
              <button type="button" class="btn btn-sm btn-danger" onClick=${cancel} disabled=${busy} ref=${(el: HTMLButtonElement | null) => el?.focus()}>Cancel the job</button>
            </span>
          </div>`
        : null
    }
    <${ErrorNote} error=${actionError} />

    <div class="grid-2">
      <${Card} title="Overview" id="overview">
        <div class="overview-progress">
          <${ProgressBar} value=${job.progress} status=${job.status} label="Job progress" />
          ${running && job.steps?.length ? html`<div class="step-text">${job.steps.at(-1)?.info}</div>` : null}
        </div>
        <${KeyValues}
          items=${[
            ["Queue", html`<span class="tag">${job.queue}</span>`],
            ["Process", job.process],
            ["Slot", lastAttempt ? html`<span class="mono">${lastAttempt.slot}</span>` : "–"],
            [
              "Node",
              lastAttempt?.node
                ? html`<span class="mono" title=${lastAttempt.node}>${shortId(lastAttempt.node)}</span>`
                : "–",
            ],
            ["Submitted", html`<span title=${fullTime(t.request)}>${clock(t.request)}</span>`],
            [
              "Started",
              t.started ? html`<span title=${fullTime(t.started)}>${clock(t.started)}</span>` : "–",
            ],
            [
              "Finished",
              t.stopped ? html`<span title=${fullTime(t.stopped)}>${clock(t.stopped)}</span>` : "–",
            ],
            ["Waited", duration(between(t.request, t.started ?? (finished ? t.stopped : null), now))],
            ["Ran", t.started ? duration(between(t.started, t.stopped, now)) : "–"],
            ["Time limit", duration(job.time_limit)],
            ["Priority", String(job.priority)],
            ["Retries", String(job.retry)],
            [
              "Input",
              job.input_file
                ? html`<span class="mono">${job.input_file}${job.root_file ? ` → ${job.root_file}` : ""}</span>`
                : "–",
            ],
            [
              "Parent",
              job.parent
                ? html`<${Link} href=${`/ui/jobs/${job.parent}`} class="mono">${shortId(job.parent)}</${Link}>`
                : "–",
            ],
          ]}
        />
        ${job.wait_reason && !finished ? html`<p class="note note-warn">${job.wait_reason}</p>` : null}
        ${
          job.children.length > 0
            ? html`<div class="children"><h3>Child jobs (${job.children.length})</h3>
                <ul class="child-list">${job.children.map((c) => html`<li><${Link} href=${`/ui/jobs/${c}`} class="mono">${shortId(c)}</${Link}></li>`)}</ul></div>`
            : null
        }
      </${Card}>

      <${Card} title="Steps" id="steps">
        ${job.steps === null ? html`<p class="muted">${finished ? "The job never ran." : "Not started yet."}</p>` : html`<${Steps} steps=${job.steps} running=${running} now=${now} startedAt=${lastAttempt?.started ?? t.started} />`}
      </${Card}>
    </div>

    ${
      job.error
        ? html`<${Card} title=${job.status === "REVOKED" ? "Why it ended" : "Error"} id="error" class="card-error"><pre class="error-text">${job.error}</pre></${Card}>`
        : null
    }
    ${
      job.status === "SUCCESS"
        ? html`<${Card} title="Result" id="result"><pre class="json">${JSON.stringify(job.result, null, 2)}</pre></${Card}>`
        : null
    }

    <${Outputs} uuid=${uuid} job=${job} />

    <${Card} title="Attempts" id="attempts">
      ${
        job.attempts.length === 0
          ? html`<p class="muted">No attempt yet: the job waits for a slot.</p>`
          : html`<div class="table-scroll"><table class="table">
              <caption class="sr-only">Attempts, oldest first</caption>
              <thead><tr>
                <th scope="col">#</th><th scope="col">Queue</th><th scope="col">Slot</th><th scope="col">Node</th>
                <th scope="col">Started</th><th scope="col" class="num">Ran</th><th scope="col">How it ended</th>
                <th scope="col" class="num">Peak memory</th><th scope="col">Note</th>
              </tr></thead>
              <tbody>
                ${job.attempts.map(
                  (a) => html`<tr>
                    <td class="num">${a.number}</td>
                    <td><span class="tag">${a.queue}</span></td>
                    <td class="mono">${a.slot}</td>
                    <td class="mono" title=${a.node ?? ""}>${a.node ? shortId(a.node) : "–"}</td>
                    <td title=${fullTime(a.started)}>${clock(a.started)}</td>
                    <td class="num">${duration(between(a.started, a.stopped, now))}</td>
                    <td>${a.cause ? html`<span class=${`cause cause-${a.cause}`}>${a.cause}</span> <span class="muted">${CAUSES[a.cause] ?? ""}${a.exit_code !== null && a.cause !== "success" ? `, exit ${a.exit_code}` : ""}${a.signal ? `, ${a.signal}` : ""}</span>` : html`<span class="muted">running</span>`}</td>
                    <td class="num">${a.peak_rss_kb === null ? "–" : bytes(a.peak_rss_kb * 1024)}</td>
                    <td>${a.note ?? ""}</td>
                  </tr>`,
                )}
              </tbody>
            </table></div>`
      }
    </${Card}>

    <${LogTail} uuid=${uuid} finished=${finished} />
  </div>`;
}
