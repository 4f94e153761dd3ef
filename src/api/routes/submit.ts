// POST /jobs: the original's multipart form (process, script, file, params, name, config).
// Every field is checked before anything is written; each refusal says what to fix.
import type { Context } from "hono";
import { ConfigFieldError, mergeConfig, parseUserConfig } from "../../jobs/worker-config.ts";
import {
  assertEntrypoint,
  isSupportedScript,
  SCRIPT_EXTENSIONS,
  ScriptError,
} from "../../scripts/inspect.ts";
import { UploadError } from "../../storage/uploads.ts";
import type { ApiDeps } from "../deps.ts";
import { badRequest } from "../errors.ts";

type Form = Awaited<ReturnType<Request["formData"]>>;

const FIELDS = new Set(["process", "script", "file", "params", "name", "config"]);

function textField(form: Form, key: string): string | null {
  const value = form.get(key);
  if (value === null) return null;
  if (typeof value !== "string") throw badRequest(`'${key}' must be a text field, not a file upload`);
  return value.trim() === "" ? null : value;
}

/** A file field; an empty text value counts as absent (Swagger's "send empty value"). */
function fileField(form: Form, key: string): File | null {
  const value = form.get(key);
  if (value === null) return null;
  if (typeof value === "string") {
    if (value.trim() === "") return null;
    throw badRequest(`'${key}' must be a file upload (multipart file part), not a text value`);
  }
  return value;
}

function jsonField(form: Form, key: string, fallback: unknown): unknown {
  const text = textField(form, key);
  if (text === null) return fallback;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badRequest(`Invalid JSON string for '${key}': ${(error as Error).message}`);
  }
}

export async function submitJob(c: Context, deps: ApiDeps): Promise<Response> {
  const type = c.req.header("content-type") ?? "";
  if (!/^multipart\/form-data/i.test(type)) {
    throw badRequest(
      "POST /jobs takes multipart/form-data with the fields process, script, file, params, name, config",
    );
  }
  let form: Form;
  try {
    form = await c.req.raw.formData();
  } catch (error) {
    throw badRequest(`The multipart body could not be read: ${(error as Error).message}`);
  }
  const warnings: string[] = [];
  for (const key of new Set(form.keys())) {
    if (!FIELDS.has(key)) warnings.push(`form field '${key}' is not known and was ignored`);
  }

  const process = textField(form, "process") ?? "custom";
  const name = textField(form, "name");
  const script = fileField(form, "script");
  const file = fileField(form, "file");
  const params = jsonField(form, "params", {});
  const rawConfig = jsonField(form, "config", {});

  let user: ReturnType<typeof parseUserConfig>;
  try {
    user = parseUserConfig(rawConfig);
  } catch (error) {
    if (error instanceof ConfigFieldError) throw badRequest(error.message);
    throw error;
  }
  warnings.push(...user.warnings);
  const config = mergeConfig(deps.defaults, {}, user.config);

  let source: string;
  let sourceName: string;
  if (process === "custom") {
    if (!script) throw badRequest("'custom' process requires a 'script' file");
    if (!isSupportedScript(script.name)) {
      throw badRequest(`Unsupported script '${script.name}': send a ${SCRIPT_EXTENSIONS.join(", ")} file`);
    }
    source = await script.text();
    sourceName = script.name;
  } else {
    const registered = deps.registry.get(process);
    if (!registered) throw badRequest(`Invalid process '${process}'`);
    if (script) warnings.push(`the 'script' upload is ignored: process '${process}' runs its own script`);
    source = deps.registry.source(registered);
    sourceName = registered.path;
  }
  try {
    assertEntrypoint(source, sourceName, config.entrypoint);
  } catch (error) {
    if (error instanceof ScriptError) throw badRequest(error.message);
    throw error;
  }

  for (const warning of warnings) deps.logger.warn("submission warning", { warning });
  let job: Awaited<ReturnType<typeof deps.jobs.submit>>;
  try {
    job = await deps.jobs.submit({
      name,
      process,
      script: process === "custom" ? script : null,
      file,
      params,
      config,
    });
  } catch (error) {
    if (error instanceof UploadError) throw badRequest(error.message);
    throw error;
  }
  return c.json({
    uuid: job.uuid,
    name: job.name,
    status: "SENT",
    progress: null,
    error: null,
    ...(warnings.length > 0 ? { warnings } : {}),
  });
}
