// Reads a script without running it: which functions it exports (the entrypoint check), the
// documentation of its entrypoint (the process doc) and its scheduling declaration, as the
// original's SourceInspector did for Python. TypeScript/JavaScript through Bun's transpiler, Python
// through python-source.ts; the file name's extension says which.
import { pythonDocstring, pythonFunctions, pythonScheduleArgs } from "./python-source.ts";

export class ScriptError extends Error {}

export const SCRIPT_EXTENSIONS = [".ts", ".mts", ".js", ".mjs", ".py"] as const;

export function isSupportedScript(fileName: string): boolean {
  return SCRIPT_EXTENSIONS.some((ext) => fileName.toLowerCase().endsWith(ext));
}

export function isPythonFile(fileName: string): boolean {
  return fileName.toLowerCase().endsWith(".py");
}

/** One transpiler per loader, made once: making one costs ten times what a small scan does. */
const transpilers = {
  ts: new Bun.Transpiler({ loader: "ts" }),
  js: new Bun.Transpiler({ loader: "js" }),
};

function transpilerFor(fileName: string): Bun.Transpiler {
  return /\.m?ts$/i.test(fileName) ? transpilers.ts : transpilers.js;
}

/**
 * Names exported by the script (for Python: its top-level functions); a TS/JS script that does not
 * parse is a ScriptError with the parser's words.
 */
export function exportedNames(source: string, fileName: string): string[] {
  if (isPythonFile(fileName)) return pythonFunctions(source);
  try {
    return transpilerFor(fileName).scan(source).exports;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ScriptError(`The script file does not parse: ${message.split("\n")[0]}`);
  }
}

export function assertEntrypoint(source: string, fileName: string, entrypoint: string): void {
  if (!exportedNames(source, fileName).includes(entrypoint)) {
    throw new ScriptError(`The script file does not have the function ${entrypoint}`);
  }
}

/**
 * The documentation of the entrypoint, as plain text, or null. TS/JS: the JSDoc block right above
 * `export [async] function <entrypoint>`, else a literal `export const description = "..."`.
 * Python (`fileName` ending in .py): the docstring of the top-level `def <entrypoint>`.
 */
export function entrypointDoc(source: string, entrypoint = "main", fileName = "script.ts"): string | null {
  if (isPythonFile(fileName)) return pythonDocstring(source, entrypoint);
  return jsdocOf(source, entrypoint) ?? exportedDescription(source);
}

function exportedDescription(source: string): string | null {
  const match =
    /export\s+const\s+description\s*(?::\s*string\s*)?=\s*("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`$]*`)/.exec(
      source,
    );
  if (!match) return null;
  const literal = match[1]!;
  const text = literal.startsWith("`")
    ? literal.slice(1, -1)
    : (JSON.parse(
        literal.startsWith("'") ? `"${literal.slice(1, -1).replaceAll('"', '\\"')}"` : literal,
      ) as string);
  return text.trim() === "" ? null : text.trim();
}

function jsdocOf(source: string, entrypoint: string): string | null {
  // The block right above the function: its text may not close a comment, or an earlier /** (a
  // type's doc, a helper's) would swallow everything down to the entrypoint.
  const pattern = new RegExp(
    `/\\*\\*((?:(?!\\*/)[\\s\\S])*)\\*/\\s*export\\s+(?:async\\s+)?function\\s*\\*?\\s*${entrypoint}\\b`,
  );
  const match = pattern.exec(source);
  if (!match) return null;
  // Of a JSDoc block keep the text: drop the leading ` * ` of each line and the outer blank lines.
  const text = match[1]!
    .split("\n")
    .map((line) => line.replace(/^\s*\* ?/, ""))
    .join("\n")
    .trim();
  return text === "" ? null : text;
}

/** Keys of `export const schedule = {...}` and the config keys they stand for. */
const SCHEDULE_KEYS: Record<string, string> = {
  queue: "queue",
  timeLimit: "time_limit",
  time_limit: "time_limit",
  priority: "priority",
};

/**
 * The script's own scheduling declaration, read without running it, as the original read
 * `@pixyz_schedule(...)`: `export const schedule = { queue: "gpu", timeLimit: 600, priority: 1 }`.
 * Only literal values count (strings, numbers, booleans); anything else is ignored. Returns the
 * declaration as `config` keys (queue, time_limit, priority), for the same validation as `config`.
 */
export function declaredSchedule(
  source: string,
  fileName = "script.ts",
  entrypoint = "main",
): Record<string, unknown> {
  if (isPythonFile(fileName)) return pythonDeclaredSchedule(source, entrypoint);
  const match = /export\s+const\s+schedule\s*(?::\s*[\w.<>[\]]+\s*)?=\s*\{([^}]*)\}/.exec(source);
  if (!match) return {};
  const declared: Record<string, unknown> = {};
  // A number is taken whole (2e-3, 1_000, 0x10, .5, 2n): cut at the first non-digit, `2e3` read as 2.
  const pair = /(\w+)\s*:\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[-+]?\.?\d(?:[eE][-+]|[\w.])*|true|false)/g;
  for (const [, key, literal] of match[1]!.matchAll(pair)) {
    const target = SCHEDULE_KEYS[key!];
    if (!target) continue;
    declared[target] = literalValue(key!, literal!);
  }
  return declared;
}

/**
 * A literal of the declaration as its value. Read as JSON: a string with a JS-only escape
 * (`'\q'`, `"\x41"`, `'it\'s'`) is a refusal that names it, not a JSON error (a 500).
 */
function literalValue(key: string, literal: string): unknown {
  if (/^[-+]?\.?\d/.test(literal)) return numberValue(key, literal);
  const json = literal.startsWith("'") ? `"${literal.slice(1, -1).replaceAll('"', '\\"')}"` : literal;
  try {
    return JSON.parse(json);
  } catch {
    throw new ScriptError(
      `The script's schedule declaration is invalid: ${key} must be a plain literal without escapes, got ${literal}`,
    );
  }
}

/**
 * A JS number literal as its value: separators between digits dropped, then Number(), which reads
 * 2e3, 0x10, 0o7, 0b11 and .5 whole and refuses the rest (NaN). The sign is read apart (Number
 * refuses "-0x10"). Anything not a finite plain number (`2n`, `1e999`) is a refusal naming the key.
 */
function numberValue(key: string, literal: string): number {
  const n = Number(literal.replace(/^[-+]/, "").replace(/(?<=[\da-fA-F])_(?=[\da-fA-F])/g, ""));
  if (!Number.isFinite(n)) {
    throw new ScriptError(
      `The script's schedule declaration is invalid: ${key} must be a finite number literal such as 600 or 2e3, got ${literal}`,
    );
  }
  return literal.startsWith("-") ? -n : n;
}

/**
 * `@pixyz_schedule(...)` on the Python entrypoint, as `config` keys: queue, time_limit, priority,
 * compute_only (literals of the right type only; `timeout` bounds the wait at run time, nothing
 * here). As the original: `wait=True` with no queue means queue 'control'.
 */
function pythonDeclaredSchedule(source: string, entrypoint: string): Record<string, unknown> {
  const args = pythonScheduleArgs(source, entrypoint);
  const declared: Record<string, unknown> = {};
  if (typeof args.queue === "string") declared.queue = args.queue;
  if (typeof args.time_limit === "number") declared.time_limit = args.time_limit;
  if (typeof args.priority === "number") declared.priority = args.priority;
  if (typeof args.compute_only === "boolean") declared.compute_only = args.compute_only;
  const wait = args.wait;
  if (
    declared.queue === undefined &&
    wait !== undefined &&
    wait !== null &&
    wait !== false &&
    wait !== 0 &&
    wait !== ""
  ) {
    declared.queue = "control";
  }
  return declared;
}

/**
 * The one check of a script at submission: throws ScriptError when `entrypoint` is not one of its
 * functions (or a TS/JS script does not parse); returns its own scheduling declaration as
 * `config` keys (queue, time_limit, priority, compute_only), to merge as defaults < declared < config.
 * `fileName`'s extension says the language (.py: Python).
 */
export function inspectScript(
  source: string,
  fileName: string,
  entrypoint: string,
): { declared: Record<string, unknown> } {
  // The same script is usually submitted again and again (a batch, a registered process): its
  // inspection (a parse, 0.15 to 0.2 ms) is kept by content. A refused script is not kept.
  const extension = fileName.slice(fileName.lastIndexOf(".")).toLowerCase(); // the language
  const key = `${extension} ${entrypoint} ${new Bun.CryptoHasher("sha256").update(source).digest("hex")}`;
  let declared = inspected.get(key);
  if (!declared) {
    assertEntrypoint(source, fileName, entrypoint);
    declared = declaredSchedule(source, fileName, entrypoint);
    if (inspected.size >= INSPECTED_MAX) inspected.delete(inspected.keys().next().value!);
    inspected.set(key, declared);
  }
  return { declared: { ...declared } };
}

/** Inspections kept, by language, entrypoint and SHA-256 of the source; the oldest goes first. */
const inspected = new Map<string, Record<string, unknown>>();
const INSPECTED_MAX = 256;
