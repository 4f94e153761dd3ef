// Processes: each pre-registered process's documentation and a form to run it (or an uploaded
// script): input file, params (JSON, checked before sending), queue, time limit, name. On submit
// the new job's page opens.
import { html } from "htm/preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiFailure, getJson, type Queue, uploadForm } from "../api.ts";
import { Card, ErrorNote, Loading, PageHeader } from "../components.ts";
import { bytes } from "../format.ts";
import { Link, navigate } from "../router.ts";

const CUSTOM = "custom";

function parseParams(text: string): { value: unknown; error: string | null } {
  if (text.trim() === "") return { value: {}, error: null };
  try {
    return { value: JSON.parse(text), error: null };
  } catch (err) {
    return { value: null, error: (err as Error).message };
  }
}

function SubmitForm({ process, queues }: { process: string; queues: string[] }) {
  const [params, setParams] = useState("{}");
  const [name, setName] = useState("");
  const [queue, setQueue] = useState("");
  const [timeLimit, setTimeLimit] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [sending, setSending] = useState<{ sent: number; total: number } | null>(null);
  const file = useRef<HTMLInputElement>(null);
  const script = useRef<HTMLInputElement>(null);
  const parsed = useMemo(() => parseParams(params), [params]);
  const limitError =
    timeLimit.trim() !== "" && !(Number(timeLimit) >= 1 && Number(timeLimit) <= 2_592_000)
      ? "A number of seconds from 1 to 2,592,000"
      : null;

  const submit = async (e: Event) => {
    e.preventDefault();
    if (parsed.error || limitError) return;
    const form = new FormData();
    form.append("process", process);
    const scriptFile = script.current?.files?.[0];
    if (process === CUSTOM) {
      if (!scriptFile) {
        setError(new Error("Choose the script file (.ts, .mts, .js, .mjs or .py)."));
        return;
      }
      form.append("script", scriptFile);
    }
    const input = file.current?.files?.[0];
    if (input) form.append("file", input);
    form.append("params", params.trim() === "" ? "{}" : params);
    if (name.trim()) form.append("name", name.trim());
    const config: Record<string, unknown> = {};
    if (queue.trim()) config.queue = queue.trim();
    if (timeLimit.trim()) config.time_limit = Number(timeLimit);
    if (Object.keys(config).length) form.append("config", JSON.stringify(config));
    setError(null);
    setSending({ sent: 0, total: 0 });
    try {
      const answer = await uploadForm<{ uuid: string }>("/jobs", form, (sent, total) =>
        setSending({ sent, total }),
      );
      navigate(`/ui/jobs/${answer.uuid}`);
    } catch (err) {
      setError(err instanceof ApiFailure ? new Error(`The daemon refused the job: ${err.message}`) : err);
      setSending(null);
    }
  };

  return html`<form class="submit-form" onSubmit=${submit} aria-labelledby="submit-title">
    <h2 id="submit-title">Run ${process === CUSTOM ? "a script" : html`<code>${process}</code>`}</h2>
    ${
      process === CUSTOM
        ? html`<div class="field">
            <label for="s-script">Script file</label>
            <input id="s-script" type="file" ref=${script} accept=".ts,.mts,.js,.mjs,.py" required />
            <p class="help">A TS/JS file exporting <code>main(ctx, params)</code>, or a Python script with a top-level <code>main</code>.</p>
          </div>`
        : null
    }
    <div class="field">
      <label for="s-file">Input file <span class="muted">(optional)</span></label>
      <input id="s-file" type="file" ref=${file} />
      <p class="help">A .zip, .tar or .tar.gz is extracted; the job opens its 3D file.</p>
    </div>
    <div class="field">
      <label for="s-params">Params (JSON)</label>
      <textarea id="s-params" rows="5" spellcheck="false" class="mono" value=${params}
        aria-invalid=${parsed.error ? "true" : undefined} aria-describedby="s-params-help"
        onInput=${(e: Event) => setParams((e.target as HTMLTextAreaElement).value)}></textarea>
      <p id="s-params-help" class=${parsed.error ? "field-error" : "help"} aria-live="polite">
        ${parsed.error ? `Not valid JSON: ${parsed.error}` : "Passed to the script as its params."}
      </p>
    </div>
    <div class="field-row">
      <div class="field">
        <label for="s-queue">Queue</label>
        <input id="s-queue" type="text" list="s-queues" placeholder="the script's own, else cpu" value=${queue}
          onInput=${(e: Event) => setQueue((e.target as HTMLInputElement).value)} />
        <datalist id="s-queues">${queues.map((q) => html`<option value=${q}></option>`)}</datalist>
      </div>
      <div class="field">
        <label for="s-limit">Time limit (seconds)</label>
        <input id="s-limit" type="number" min="1" max="2592000" inputmode="numeric" placeholder="default" value=${timeLimit}
          aria-invalid=${limitError ? "true" : undefined} aria-describedby=${limitError ? "s-limit-error" : undefined}
          onInput=${(e: Event) => setTimeLimit((e.target as HTMLInputElement).value)} />
        ${limitError ? html`<p id="s-limit-error" class="field-error">${limitError}</p>` : null}
      </div>
    </div>
    <div class="field">
      <label for="s-name">Name <span class="muted">(optional)</span></label>
      <input id="s-name" type="text" placeholder="A label to find it again" value=${name}
        onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} />
    </div>
    <${ErrorNote} error=${error} />
    <div class="form-actions">
      <button type="submit" class="btn btn-primary" disabled=${sending !== null || parsed.error !== null || limitError !== null}>
        ${sending ? "Submitting…" : "Submit job"}
      </button>
      ${
        sending && sending.total > 0
          ? html`<span class="muted small" role="status">Uploading ${bytes(sending.sent)} of ${bytes(sending.total)}</span>`
          : null
      }
    </div>
  </form>`;
}

export function ProcessesPage({ name }: { name: string | null }) {
  const [names, setNames] = useState<string[] | null>(null);
  const [doc, setDoc] = useState<{ name: string; text: string | null } | null>(null);
  const [queues, setQueues] = useState<string[]>([]);
  const [error, setError] = useState<unknown>(null);
  const selected = name ?? names?.[0] ?? null;

  useEffect(() => {
    document.title = "Processes · pixyz-scheduler";
    getJson<{ processes: string[] }>("/processes")
      .then((a) => setNames(a.processes))
      .catch(setError);
    getJson<{ queues: Queue[] }>("/queues")
      .then((a) => setQueues(a.queues.map((q) => q.name)))
      .catch(() => {});
  }, []);

  useEffect(() => {
    if (!selected || selected === CUSTOM) return;
    setDoc(null);
    getJson<{ doc: string }>(`/processes/${encodeURIComponent(selected)}`)
      .then((a) => setDoc({ name: selected, text: a.doc.replace(/^Process '[^']*' documentation:\n\n/, "") }))
      .catch((err) =>
        setDoc({
          name: selected,
          text: err instanceof ApiFailure && err.status === 404 ? null : String(err.message),
        }),
      );
  }, [selected]);

  return html`<div class="page page-wide">
    <${PageHeader} title="Processes" sub="Pre-registered scripts, their documentation, and a form to run them" />
    <${ErrorNote} error=${error} />
    <div class="split">
      <nav class="side-list" aria-label="Processes">
        ${names === null ? html`<${Loading} />` : null}
        <ul>
          ${(names ?? []).map(
            (n) =>
              html`<li><${Link} href=${`/ui/processes/${encodeURIComponent(n)}`} class="side-link" aria-current=${n === selected ? "page" : undefined}>${n}</${Link}></li>`,
          )}
          <li class="side-sep"><${Link} href="/ui/processes/custom" class="side-link" aria-current=${selected === CUSTOM ? "page" : undefined}>Upload a script…</${Link}></li>
        </ul>
      </nav>
      <div class="split-main">
        ${
          selected === CUSTOM
            ? html`<${Card} title="Upload a script"><p>Run your own script as a job: the daemon checks it (it must export its entrypoint) before it accepts it. See <a href="/docs">the API docs</a> for the form fields.</p></${Card}>`
            : selected
              ? html`<${Card} title=${html`<code>${selected}</code>`} id="doc">
                  ${doc === null || doc.name !== selected ? html`<${Loading} label="Reading the documentation" />` : doc.text === null ? html`<p class="muted">This process has no documentation.</p>` : html`<div class="doc">${doc.text}</div>`}
                </${Card}>`
              : null
        }
        ${selected ? html`<${Card} id="submit"><${SubmitForm} key=${selected} process=${selected} queues=${queues} /></${Card}>` : null}
      </div>
    </div>
  </div>`;
}
