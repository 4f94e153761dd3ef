// `exec` (a custom script) and `process` (a pre-registered process): POST /jobs with the files
// streamed from disk (bytes shown), then, with -w, a live watch that ends in the status's exit code.
import { existsSync, statSync } from "node:fs";
import { basename } from "node:path";
import { usageError } from "./errors.ts";
import { EXIT } from "./exit-codes.ts";
import { type FilePart, multipartBody } from "./multipart.ts";
import { type CommandContext, type CommandSpec, required, runCommand, string } from "./options.ts";
import { PROGRAM } from "./program.ts";
import { watchAndReport } from "./report.ts";

const JOB_OPTIONS = {
  input: { type: "string", short: "i" },
  params: { type: "string", short: "p" },
  alias: { type: "string", short: "a" },
  queue: { type: "string", short: "q" },
  entrypoint: { type: "string", short: "e" },
  "time-limit": { type: "string", short: "l" },
  priority: { type: "string" },
  watch: { type: "boolean", short: "w" },
  result: { type: "boolean", short: "r" },
  batch: { type: "boolean", short: "b" },
} as const;

const JOB_HELP = `  -i, --input FILE       the input file (a 3D file, or a zip / tar.gz of files)
  -p, --params JSON      parameters for the entrypoint (default {})
  -q, --queue Q          the queue (default: the script's own, else cpu)
  -e, --entrypoint NAME  the function to call (default main)
  -l, --time-limit S     seconds before the job is killed (default: the daemon's, 3600)
      --priority N       higher runs first within its queue (default 0)
  -w, --watch            follow the job until it ends; exit with its status's code
  -r, --result           print the result JSON when it ends (implies -w)
  -b, --batch            print only the job's uuid (no upload bytes)`;

const EXEC: CommandSpec = {
  name: "exec",
  usage: `Usage: ${PROGRAM} exec -s SCRIPT [-i INPUT] [-p PARAMS_JSON] [-n NAME] [options]

Submits a custom script (.ts, .js, .mjs, .py) as a job and prints its uuid.

Options:
  -s, --script FILE      the script to run
  -n, --name NAME        a label for the job (also -a, --alias)
${JOB_HELP}`,
  options: { script: { type: "string", short: "s" }, name: { type: "string", short: "n" }, ...JOB_OPTIONS },
};

const PROCESS: CommandSpec = {
  name: "process",
  usage: `Usage: ${PROGRAM} process -n PROCESS [-i INPUT] [-p PARAMS_JSON] [options]

Submits a job that runs a pre-registered process ('${PROGRAM} processes' lists them).

Options:
  -n, --name PROCESS     the process to run (or as the first argument)
  -a, --alias NAME       a label for the job
${JOB_HELP}`,
  options: { name: { type: "string", short: "n" }, ...JOB_OPTIONS },
  positionals: 1,
};

function localFile(path: string, flag: string): string {
  if (!existsSync(path) || !statSync(path).isFile()) throw usageError(`${flag}: no file '${path}'`);
  return path;
}

async function submit(
  ctx: CommandContext,
  processName: string,
  script: string | null,
  label: string | undefined,
) {
  const { values, client, out } = ctx;
  const paramsText = string(values, "params") ?? "{}";
  try {
    JSON.parse(paramsText);
  } catch (error) {
    throw usageError(`-p/--params is not valid JSON: ${(error as Error).message}`);
  }
  const config: Record<string, string | number> = {};
  const entrypoint = string(values, "entrypoint");
  const queue = string(values, "queue");
  if (entrypoint) config.entrypoint = entrypoint;
  if (queue) config.queue = queue;
  for (const [flag, key] of [
    ["time-limit", "time_limit"],
    ["priority", "priority"],
  ] as const) {
    const text = string(values, flag);
    if (text === undefined) continue;
    if (!/^-?\d+$/.test(text)) throw usageError(`--${flag} must be an integer, got '${text}'`);
    config[key] = Number(text);
  }

  const files: FilePart[] = [];
  if (script) files.push({ field: "script", path: localFile(script, "-s/--script"), type: "text/plain" });
  const input = string(values, "input");
  if (input)
    files.push({ field: "file", path: localFile(input, "-i/--input"), type: "application/octet-stream" });
  const fields: [string, string][] = [
    ["process", processName],
    ["params", paramsText],
    ["config", JSON.stringify(config)],
  ];
  if (label) fields.push(["name", label]);

  const batch = values.batch === true;
  const watch = values.watch === true || values.result === true;
  const names = files.map((f) => basename(f.path)).join(", ");
  let transfer: ReturnType<typeof out.transfer> | null = null;
  const multipart = multipartBody(fields, files, (n) => transfer?.add(n));
  if (files.length > 0 && !batch) {
    transfer = out.transfer(`Uploading ${names}`, multipart.fileBytes);
  }
  const res = await client.request("/jobs", {
    method: "POST",
    body: multipart.body,
    headers: { "content-type": multipart.contentType, "content-length": String(multipart.length) },
    duplex: "half",
  } as RequestInit);
  transfer?.done();
  const answer = (await res.json()) as { uuid: string; warnings?: string[] };
  for (const warning of answer.warnings ?? []) out.note(`warning: ${warning}`);
  out.data(answer.uuid);
  if (!watch) {
    if (!batch) out.note(`Job ${answer.uuid} submitted. Follow it: ${PROGRAM} status -j ${answer.uuid} -w`);
    out.document(answer);
    return EXIT.OK;
  }
  return watchAndReport(client, out, answer.uuid, {
    printResult: values.result === true,
    printSummary: false,
  });
}

export function runExec(argv: string[]): Promise<number> {
  return runCommand(EXEC, argv, (ctx) => {
    const script = required(ctx.values, "script", "-s/--script");
    const label = string(ctx.values, "name") ?? string(ctx.values, "alias");
    return submit(ctx, "custom", script, label);
  });
}

export function runProcess(argv: string[]): Promise<number> {
  return runCommand(PROCESS, argv, (ctx) => {
    const name = string(ctx.values, "name") ?? ctx.positionals[0];
    if (!name) throw usageError(`-n/--name PROCESS is required ('${PROGRAM} processes' lists them)`);
    return submit(ctx, name, null, string(ctx.values, "alias"));
  });
}
