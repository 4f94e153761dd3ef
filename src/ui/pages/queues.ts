// Queues and slots: what each queue holds and how it is served; what each slot runs and since
// when. Read again when a job changes status (live), not on a timer.
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { type Capacity, getJson, type JobState, type Queue, type Slot } from "../api.ts";
import { Card, Empty, ErrorNote, Loading, PageHeader, StatusBadge, useNow } from "../components.ts";
import { between, bytes, count, duration, fullTime, shortId } from "../format.ts";
import { useLive, useThrottled } from "../live.ts";
import { Link } from "../router.ts";

const SERVED: Record<string, [string, string]> = {
  local: ["Local slots", "ok"],
  fallback: ["Fallback", "warn"],
  peer: ["Peer", "info"],
  none: ["Not served", "bad"],
};

export function QueuesPage() {
  const [queues, setQueues] = useState<Queue[] | null>(null);
  const [slots, setSlots] = useState<{ slots: Slot[]; capacity: Capacity } | null>(null);
  const [names, setNames] = useState<Record<string, JobState>>({});
  const [error, setError] = useState<unknown>(null);
  const now = useNow();

  const load = async () => {
    try {
      const [q, s] = await Promise.all([
        getJson<{ queues: Queue[] }>("/queues"),
        getJson<{ slots: Slot[]; capacity: Capacity }>("/slots"),
      ]);
      setQueues(q.queues);
      setSlots(s);
      setError(null);
      // The name of each running job, once.
      const unknown = s.slots.map((x) => x.job).filter((j): j is string => j !== null && !(j in names));
      if (unknown.length > 0) {
        const states = await Promise.all(
          unknown.map((j) => getJson<JobState>(`/jobs/${j}`).catch(() => null)),
        );
        setNames((old) => {
          const next = { ...old };
          for (const st of states) if (st) next[st.uuid] = st;
          return next;
        });
      }
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => {
    document.title = "Queues and slots · pixyz-scheduler";
    load();
  }, []);
  const refresh = useThrottled(load, 500);
  useLive((e) => {
    if (e.type === "status") refresh();
  });

  const cap = slots?.capacity;
  const busy = slots ? slots.slots.filter((s) => s.job).length : 0;
  return html`<div class="page page-wide">
    <${PageHeader}
      title="Queues and slots"
      sub=${slots ? `${busy} of ${slots.slots.length} slots busy` : "\u00a0"}
    />
    <${ErrorNote} error=${error} />
    ${
      cap
        ? html`<div class="stat-row">
            <div class="stat"><div class="stat-label">Cores</div><div class="stat-value">${cap.cores}</div></div>
            <div class="stat"><div class="stat-label">Memory</div><div class="stat-value">${bytes(cap.memory_mb * 1024 * 1024)}</div></div>
            <div class="stat"><div class="stat-label">GPUs</div><div class="stat-value">${cap.gpus.length || "none"}</div>
              ${cap.gpus.length ? html`<div class="stat-sub">${cap.gpus.map((g) => g.name).join(", ")}</div>` : null}</div>
            <div class="stat"><div class="stat-label">Waiting jobs</div><div class="stat-value">${count(queues?.reduce((a, q) => a + q.waiting, 0) ?? 0)}</div></div>
          </div>`
        : null
    }
    ${cap?.notes.length ? html`<div class="note note-warn">${cap.notes.map((n) => html`<div>${n}</div>`)}</div>` : null}

    <${Card} title="Queues" id="queues">
      ${
        queues === null
          ? html`<${Loading} />`
          : queues.length === 0
            ? html`<${Empty} title="No queue" />`
            : html`<div class="table-scroll"><table class="table">
              <caption class="sr-only">Queues</caption>
              <thead><tr>
                <th scope="col">Queue</th><th scope="col">Served by</th><th scope="col" class="num">Waiting</th>
                <th scope="col" class="num">Running</th><th scope="col">Own slots busy</th><th scope="col" class="num">Oldest wait</th>
              </tr></thead>
              <tbody>
                ${queues.map((q) => {
                  const [label, tone] = SERVED[q.served] ?? [q.served, "info"];
                  return html`<tr>
                    <th scope="row"><${Link} href=${`/ui/jobs?queue=${encodeURIComponent(q.name)}`} class="tag tag-link">${q.name}</${Link}></th>
                    <td>
                      <span class=${`pill pill-${tone}`}>${label}</span>
                      <span class="muted small"> ${q.served_by.join(", ") || ""}</span>
                      ${q.served_note ? html`<div class="muted small">${q.served_note}</div>` : null}
                      ${q.wait_reason ? html`<div class="warn-text small">${q.wait_reason}</div>` : null}
                    </td>
                    <td class="num">${count(q.waiting)}</td>
                    <td class="num">${count(q.running)}</td>
                    <td>
                      ${
                        q.slots > 0
                          ? html`<div class="slot-dots" role="img" aria-label=${`${q.busy} of ${q.slots} slots busy`}>
                              ${Array.from({ length: q.slots }, (_, i) => html`<span class=${i < q.busy ? "slot-dot busy" : "slot-dot"}></span>`)}
                              <span class="small muted">${q.busy}/${q.slots}</span>
                            </div>`
                          : html`<span class="muted">none</span>`
                      }
                    </td>
                    <td class="num">${q.oldest_wait_s === null ? "–" : duration(q.oldest_wait_s)}</td>
                  </tr>`;
                })}
              </tbody>
            </table></div>`
      }
    </${Card}>

    <${Card} title="Slots" id="slots">
      ${
        slots === null
          ? html`<${Loading} />`
          : html`<ul class="slot-grid">
              ${slots.slots.map((s) => {
                const job = s.job ? names[s.job] : undefined;
                return html`<li class=${`slot-card ${s.job ? "is-busy" : ""}`} data-slot=${s.id}>
                  <div class="slot-head">
                    <span class="slot-id mono">${s.id}</span>
                    <span class=${`pill ${s.kind === "control" ? "pill-info" : "pill-neutral"}`}>${s.kind}</span>
                  </div>
                  <div class="slot-serves small muted">serves ${s.serves.join(", ")}${s.fallback_for.length ? html` <span class="warn-text">(stand-in for ${s.fallback_for.join(", ")})</span>` : null}</div>
                  ${s.gpu ? html`<div class="slot-gpu small">GPU ${s.gpu.index}: ${s.gpu.name} · ${bytes(s.gpu.vram_mb * 1024 * 1024)}</div>` : null}
                  <div class="slot-job">
                    ${
                      s.job
                        ? html`<${Link} href=${`/ui/jobs/${s.job}`} class="slot-job-link">${job?.name ?? `Job ${shortId(s.job)}`}</${Link}>
                          ${job ? html` <${StatusBadge} status=${job.status} />` : null}
                          <div class="small muted" title=${fullTime(s.since)}>attempt ${s.attempt} · for ${duration(between(s.since, null, now))}</div>`
                        : html`<span class="muted">Idle</span>`
                    }
                  </div>
                </li>`;
              })}
            </ul>`
      }
    </${Card}>
  </div>`;
}
