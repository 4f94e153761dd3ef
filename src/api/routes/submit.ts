// POST /jobs: the original's multipart form (process, script, file, params, name, config).
// The body is streamed: file parts go to a staging folder as they arrive (never whole in memory),
// then every field is checked; a refusal removes what was staged and says what to fix.
import { rmSync } from "node:fs";
import type { Context } from "hono";
import { compileJob, type JobDefinition, JobRefused } from "../../jobs/compile.ts";
import { isSupportedScript, SCRIPT_EXTENSIONS } from "../../scripts/inspect.ts";
import { FORM_OVERHEAD_BYTES, type ReceivedForm, receiveMultipart } from "../../storage/multipart.ts";
import { formatBytes } from "../../text/bytes.ts";
import type { ApiDeps } from "../deps.ts";
import { ApiError, badRequest } from "../errors.ts";

const FIELDS = new Set(["process", "script", "file", "params", "name", "config"]);
const FILE_FIELDS = ["script", "file"] as const;

function textField(form: ReceivedForm, key: string): string | null {
  if (form.ignoredFileFields.includes(key)) {
    throw badRequest(`'${key}' must be a text field, not a file upload`);
  }
  const value = form.fields.get(key)?.[0];
  if (value === undefined) return null;
  return value.trim() === "" ? null : value;
}

/** A file field's stored name; an empty text value counts as absent (Swagger's "send empty value"). */
function fileField(form: ReceivedForm, key: (typeof FILE_FIELDS)[number]) {
  const text = form.fields.get(key)?.find((v) => v.trim() !== "");
  if (text !== undefined) {
    throw badRequest(`'${key}' must be a file upload (multipart file part), not a text value`);
  }
  return form.files.get(key) ?? null;
}

/**
 * The most nested arrays and objects a JSON field may hold (Python's json, in the original, stopped
 * near there). JSON.parse takes far deeper texts, but storing them (JSON.stringify) then overflows
 * the stack: a 500 instead of a 400.
 */
const MAX_JSON_DEPTH = 1000;

/** The deepest nesting of arrays and objects in a valid JSON text (strings skipped). */
function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      // A backslash escapes the next character; a quote ends the string.
      if (ch === 0x5c) i++;
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return deepest;
}

/**
 * Where the first number JSON cannot hold sits (`1e999` parses as Infinity, which would be stored
 * as null), as `key.a[2]`; null when there is none. Called after the depth check: it recurses.
 */
function nonFinitePath(value: unknown, path: string): string | null {
  if (typeof value === "number") return Number.isFinite(value) ? null : path;
  if (value === null || typeof value !== "object") return null;
  for (const [key, item] of Object.entries(value)) {
    const found = nonFinitePath(item, Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`);
    if (found) return found;
  }
  return null;
}

function jsonField(form: ReceivedForm, key: string, fallback: unknown): unknown {
  const text = textField(form, key);
  if (text === null) return fallback;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw badRequest(`Invalid JSON string for '${key}': ${(error as Error).message}`);
  }
  if (jsonDepth(text) > MAX_JSON_DEPTH) {
    throw badRequest(`Invalid JSON string for '${key}': nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  const infinite = nonFinitePath(value, key);
  if (infinite) {
    throw badRequest(
      `Invalid JSON string for '${key}': the number at ${infinite} is not a finite number (too large for a double): send a smaller number, or a string`,
    );
  }
  return value;
}

export async function submitJob(c: Context, deps: ApiDeps): Promise<Response> {
  const type = c.req.header("content-type") ?? "";
  if (!/^multipart\/form-data/i.test(type)) {
    throw badRequest(
      "POST /jobs takes multipart/form-data with the fields process, script, file, params, name, config",
    );
  }
  const { maxUploadBytes } = deps.jobs.limits;
  const declared = Number(c.req.header("content-length") ?? "");
  const length = Number.isFinite(declared) && declared > 0 ? declared : 0;
  if (length > maxUploadBytes + FORM_OVERHEAD_BYTES) {
    throw new ApiError(
      413,
      `The upload (${formatBytes(length)}) is larger than the limit of ${formatBytes(maxUploadBytes)} (${maxUploadBytes} bytes, MAX_UPLOAD_SIZE)`,
    );
  }
  deps.jobs.assertRoomFor(length);

  const stage = deps.jobs.openStage();
  try {
    const form = await receiveMultipart(c.req.raw, {
      destinations: { script: stage.scriptDir, file: stage.inputsDir },
      maxFileBytes: maxUploadBytes,
      limitName: "MAX_UPLOAD_SIZE",
      idleTimeoutMs: deps.jobs.limits.idleTimeoutMs,
    });
    const warnings: string[] = [];
    for (const key of [...form.fields.keys(), ...form.ignoredFileFields]) {
      if (!FIELDS.has(key)) warnings.push(`form field '${key}' is not known and was ignored`);
    }

    const process = textField(form, "process") ?? "custom";
    const name = textField(form, "name");
    const script = fileField(form, "script");
    const file = fileField(form, "file");
    const params = jsonField(form, "params", {});
    const rawConfig = jsonField(form, "config", {});

    let source: string;
    let fileName: string;
    if (process === "custom") {
      if (!script) throw badRequest("'custom' process requires a 'script' file");
      if (!isSupportedScript(script.name)) {
        throw badRequest(`Unsupported script '${script.name}': send a ${SCRIPT_EXTENSIONS.join(", ")} file`);
      }
      // Read back from the file just written, not decoded from the bytes the form held: with no
      // wait between the body's end and the answer, Bun left the connections of a burst of
      // submissions in CLOSE-WAIT (180 sockets at once with 8 in flight; EMFILE under
      // ulimit -n 128, test/faults/many-jobs.fault.ts). Registered-process submissions, which
      // read nothing, still show it (docs/reliability.md, file descriptors).
      source = await Bun.file(script.path).text();
      fileName = script.name;
    } else {
      const registered = deps.registry.get(process);
      if (!registered) throw badRequest(`Invalid process '${process}'`);
      if (script) {
        warnings.push(`the 'script' upload is ignored: process '${process}' runs its own script`);
        rmSync(script.path, { force: true });
      }
      source = deps.registry.source(registered);
      fileName = registered.path;
    }
    let definition: JobDefinition;
    try {
      definition = compileJob(
        { script: { process, source, fileName }, name, params, config: rawConfig },
        deps.defaults,
      );
    } catch (error) {
      if (error instanceof JobRefused) throw badRequest(error.message);
      throw error;
    }
    warnings.push(...definition.warnings);

    // A client that closes its side once the request is sent (a half-close) makes Bun drop the
    // answer: a job stored then would run without the client ever seeing its uuid, and a client
    // that sends it again would run it twice. So it is not stored once the client has gone, and a
    // client gone between the store and the answer is named in the log with the job.
    const signal = c.req.raw.signal;
    const submitted = await deps.jobs.submit(stage, {
      definition,
      scriptFile: process === "custom" ? script!.name : null,
      inputFile: file?.name ?? null,
      stillWanted: () => !signal.aborted,
    });
    const unanswered = () =>
      deps.logger.warn("the client went away before the answer: the job was stored and runs", {
        job: submitted.job.uuid,
      });
    if (signal.aborted) unanswered();
    else signal.addEventListener("abort", unanswered, { once: true });
    warnings.push(...submitted.warnings);
    for (const warning of warnings) deps.logger.warn("submission warning", { job: stage.uuid, warning });
    const { job } = submitted;
    return c.json({
      uuid: job.uuid,
      name: job.name,
      status: "SENT",
      progress: null,
      error: null,
      ...(warnings.length > 0 ? { warnings } : {}),
    });
  } catch (error) {
    stage.discard();
    throw error;
  }
}
