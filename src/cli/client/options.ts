// Argument parsing shared by the client commands (node:util parseArgs, strict), the daemon's
// address and token, and the one place that turns any failure into one line and an exit code.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { CliError } from "./errors.ts";
import { EXIT } from "./exit-codes.ts";
import { ApiClient } from "./http.ts";
import { Output } from "./output.ts";
import { PROGRAM } from "./program.ts";

type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export const DEFAULT_URL = "http://localhost:8001";

const COMMON: OptionsConfig = {
  url: { type: "string", short: "u" },
  token: { type: "string", short: "t" },
  "data-dir": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

export const COMMON_HELP = `Common options:
  -u, --url URL        the daemon (default ${DEFAULT_URL}, or PIXYZ_URL)
  -t, --token TOKEN    the API token (or PIXYZ_TOKEN; for a daemon on this machine, read from
                       <data-dir>/api-token when neither is given)
      --data-dir DIR   where to find that token file (default DATA_DIR, else ./data)
      --json           machine output: one JSON document on stdout, no progress
  -h, --help           this help`;

export interface CommandSpec {
  name: string;
  usage: string;
  options: OptionsConfig;
  /** Positional arguments allowed (default 0). */
  positionals?: number;
}

export interface CommandContext {
  values: Values;
  positionals: string[];
  client: ApiClient;
  out: Output;
}

function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
    return host === "localhost" || host === "::1" || host.startsWith("127.");
  } catch {
    return false;
  }
}

/** -t, else PIXYZ_TOKEN, else the local daemon's token file (only for a daemon on this machine). */
export function resolveToken(
  values: Values,
  url: string,
  env: NodeJS.ProcessEnv = process.env,
): string | null {
  const given = (values.token as string | undefined) ?? env.PIXYZ_TOKEN;
  if (given !== undefined && given !== "") return given;
  if (!isLoopback(url)) return null;
  const dataDir = (values["data-dir"] as string | undefined) ?? env.DATA_DIR ?? "./data";
  const file = join(resolve(dataDir), "api-token");
  if (!existsSync(file)) return null;
  try {
    return readFileSync(file, "utf8").trim() || null;
  } catch {
    return null;
  }
}

export function string(values: Values, key: string): string | undefined {
  const value = values[key];
  return typeof value === "string" ? value : undefined;
}

export function required(values: Values, key: string, flag: string): string {
  const value = string(values, key);
  if (value === undefined || value === "") throw new CliError(`${flag} is required`, EXIT.USAGE);
  return value;
}

/** A non-negative number from a flag, or the fallback. */
export function numberOption(values: Values, key: string, flag: string, fallback: number): number {
  const text = string(values, key);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0)
    throw new CliError(`${flag} must be a number >= 0, got '${text}'`, EXIT.USAGE);
  return value;
}

/** Parses the arguments, runs the command, and turns every failure into one line and an exit code. */
export async function runCommand(
  spec: CommandSpec,
  argv: string[],
  handler: (ctx: CommandContext) => Promise<number>,
): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: { ...COMMON, ...spec.options },
      strict: true,
      allowPositionals: (spec.positionals ?? 0) > 0,
    }));
    if (positionals.length > (spec.positionals ?? 0)) {
      throw new Error(`unexpected argument '${positionals[spec.positionals ?? 0]}'`);
    }
  } catch (error) {
    console.error(
      `pixyz-scheduler ${spec.name}: ${(error as Error).message}. Run '${PROGRAM} ${spec.name} --help'.`,
    );
    return EXIT.USAGE;
  }
  if (values.help) {
    console.log(`${spec.usage}\n\n${COMMON_HELP}`);
    return EXIT.OK;
  }
  const url = string(values, "url") ?? process.env.PIXYZ_URL ?? DEFAULT_URL;
  const out = new Output(values.json === true);
  try {
    const client = new ApiClient(url, resolveToken(values, url));
    return await handler({ values, positionals, client, out });
  } catch (error) {
    out.stopProgress();
    if (error instanceof CliError) {
      console.error(`pixyz-scheduler: ${error.message}`);
      return error.exitCode;
    }
    console.error(`pixyz-scheduler: ${spec.name} failed: ${(error as Error).message ?? String(error)}`);
    if (process.env.PIXYZ_DEBUG) console.error((error as Error).stack);
    return EXIT.API_ERROR;
  }
}
