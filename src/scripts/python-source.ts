// Reads a Python script without running it (no interpreter needed), as the original's
// SourceInspector did with `ast`: its top-level functions, the docstring of one, and the keyword
// literals of its `@pixyz_schedule(...)` decorator. Pure. A scanner splits the source into logical
// lines (strings, comments, brackets and line continuations understood); it is not a full parser:
// a file with a syntax error is accepted here and fails when the job runs.

interface Statement {
  /** The logical line, comments removed. */
  text: string;
  /** Columns of indentation of its first line. */
  indent: number;
}

const STRING_START = /^([rRuUbBfF]{0,2})('''|"""|'|")/;

/** Splits `source` into logical lines. */
function statements(source: string): Statement[] {
  const out: Statement[] = [];
  let text = "";
  let indent = 0;
  let atLineStart = true;
  let depth = 0;
  const flush = () => {
    if (text.trim() !== "") out.push({ text: text.trim(), indent });
    text = "";
    atLineStart = true;
  };
  let i = 0;
  while (i < source.length) {
    const ch = source[i]!;
    if (atLineStart) {
      let j = i;
      let col = 0;
      while (j < source.length && (source[j] === " " || source[j] === "\t")) {
        col = source[j] === "\t" ? col + 8 - (col % 8) : col + 1;
        j++;
      }
      indent = col;
      atLineStart = false;
      i = j;
      continue;
    }
    if (ch === "#") {
      while (i < source.length && source[i] !== "\n") i++;
      continue;
    }
    if (ch === "\\" && source[i + 1] === "\n") {
      text += " ";
      i += 2;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const end = stringEnd(source, i);
      text += source.slice(i, end);
      i = end;
      continue;
    }
    if (ch === "(" || ch === "[" || ch === "{") depth++;
    else if (ch === ")" || ch === "]" || ch === "}") depth = Math.max(0, depth - 1);
    if (ch === "\n" || ch === "\r") {
      if (depth === 0) {
        flush();
        i++;
        continue;
      }
      text += " ";
      i++;
      continue;
    }
    text += ch;
    i++;
  }
  flush();
  return out;
}

/** Index just after the string literal whose opening quote is at `start` (prefix letters excluded). */
function stringEnd(source: string, start: number): number {
  const quote = source[start]!;
  const triple = source.startsWith(quote.repeat(3), start);
  const close = triple ? quote.repeat(3) : quote;
  let i = start + close.length;
  while (i < source.length) {
    if (source[i] === "\\") {
      i += 2;
      continue;
    }
    if (!triple && source[i] === "\n") return i; // unterminated: stop at the line's end
    if (source.startsWith(close, i)) return i + close.length;
    i++;
  }
  return source.length;
}

const ESCAPES: Record<string, string> = {
  "\\": "\\",
  "'": "'",
  '"': '"',
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "\n": "",
};

/** The value of the string literal at the start of `text`, and the rest; null when there is none (or bytes/f-string). */
function stringLiteral(text: string): { value: string; rest: string } | null {
  const match = STRING_START.exec(text);
  if (!match) return null;
  const prefix = match[1]!.toLowerCase();
  if (prefix.includes("b") || prefix.includes("f")) return null;
  const open = match[0].length - match[2]!.length;
  const end = stringEnd(text, open);
  const quote = match[2]!;
  if (end - open < quote.length * 2 || !text.startsWith(quote, end - quote.length)) return null;
  const body = text.slice(open + quote.length, end - quote.length);
  const value = prefix.includes("r")
    ? body
    : body.replace(
        /\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{1,3}|[\s\S])/g,
        (all, esc: string) => {
          if (/^[xuU]/.test(esc)) return String.fromCodePoint(Number.parseInt(esc.slice(1), 16));
          if (/^[0-7]/.test(esc)) return String.fromCodePoint(Number.parseInt(esc, 8));
          return ESCAPES[esc] ?? all;
        },
      );
  return { value, rest: text.slice(end).trim() };
}

/** str.expandtabs(): tabs to spaces, up to the next multiple of 8 columns. */
function expandTabs(line: string): string {
  let out = "";
  for (const ch of line) out += ch === "\t" ? " ".repeat(8 - (out.length % 8)) : ch;
  return out;
}

/** inspect.cleandoc, which ast.get_docstring applies. */
function cleandoc(doc: string): string {
  const lines = doc.split("\n").map(expandTabs);
  let margin = Number.POSITIVE_INFINITY;
  for (const line of lines.slice(1)) {
    const content = line.trimStart();
    if (content !== "") margin = Math.min(margin, line.length - content.length);
  }
  lines[0] = lines[0]!.trimStart();
  if (margin !== Number.POSITIVE_INFINITY)
    for (let i = 1; i < lines.length; i++) lines[i] = lines[i]!.slice(margin);
  while (lines.length > 0 && lines[0]!.trim() === "") lines.shift();
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === "") lines.pop();
  return lines.join("\n");
}

const DEF = /^(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(/;

interface FunctionDef {
  name: string;
  index: number;
  /** What follows the signature's colon on the same line (an inline body), trimmed. */
  inlineBody: string;
}

/**
 * The positions of `target` outside strings and at bracket depth 0 in `text`, from `from` on;
 * stops at the first one when `first` is set.
 */
function topLevel(text: string, from: number, target: string, first = false): number[] {
  const found: number[] = [];
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"' || ch === "'") {
      i = stringEnd(text, i) - 1;
      continue;
    }
    if (ch === "(" || ch === "[" || ch === "{") depth++;
    else if (ch === ")" || ch === "]" || ch === "}") depth--;
    else if (ch === target && depth === 0) {
      found.push(i);
      if (first) break;
    }
  }
  return found;
}

/** The signature ends at the first ':' at bracket depth 0 after the parameters' '('. */
function inlineBodyOf(text: string, open: number): string {
  const [colon] = topLevel(text, open, ":", true);
  return colon === undefined ? "" : text.slice(colon + 1).trim();
}

function topLevelDefs(all: Statement[]): FunctionDef[] {
  const defs: FunctionDef[] = [];
  all.forEach((s, index) => {
    if (s.indent !== 0) return;
    const match = DEF.exec(s.text);
    if (match) defs.push({ name: match[1]!, index, inlineBody: inlineBodyOf(s.text, match[0].length - 1) });
  });
  return defs;
}

/** Names of the script's top-level functions (`def` and `async def`). */
export function pythonFunctions(source: string): string[] {
  return topLevelDefs(statements(source)).map((d) => d.name);
}

/** The docstring of the top-level function `name`, cleaned as ast.get_docstring does; null when none. */
export function pythonDocstring(source: string, name = "main"): string | null {
  const all = statements(source);
  const def = topLevelDefs(all).find((d) => d.name === name);
  if (!def) return null;
  let first: string | null = def.inlineBody || null;
  if (first === null) {
    const next = all[def.index + 1];
    if (!next || next.indent === 0) return null;
    first = next.text;
  }
  const literal = stringLiteral(first);
  if (!literal || (literal.rest !== "" && !literal.rest.startsWith(";"))) return null;
  const doc = cleandoc(literal.value);
  return doc === "" ? null : doc;
}

/** Splits an argument list at its top-level commas. */
function splitArgs(text: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (const comma of topLevel(text, 0, ",")) {
    parts.push(text.slice(start, comma).trim());
    start = comma + 1;
  }
  parts.push(text.slice(start).trim());
  return parts.filter((p) => p !== "");
}

/** A literal keyword value (string, number, True/False/None); undefined for anything else. */
function literalValue(text: string): unknown {
  if (text === "True") return true;
  if (text === "False") return false;
  if (text === "None") return null;
  if (/^[+-]?(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][+-]?\d[\d_]*)?$/.test(text))
    return Number(text.replaceAll("_", ""));
  // Integers in another base (0x10, 0o17, 0b101), as ast.literal_eval reads them. Number() checks
  // the digits (a parseInt would stop at the first bad one); it refuses a sign, read apart.
  const based = /^([+-]?)(0[xob]\w+)$/i.exec(text);
  if (based) {
    const n = Number(based[2]!.replaceAll("_", ""));
    if (!Number.isNaN(n)) return based[1] === "-" ? -n : n;
  }
  const literal = stringLiteral(text);
  if (literal && literal.rest === "") return literal.value;
  return undefined;
}

/**
 * The keyword literals of the last `@pixyz_schedule(...)` decorating the top-level function `name`,
 * as the original's SourceInspector kept them (non-literal values are dropped); {} when none.
 */
export function pythonScheduleArgs(source: string, name = "main"): Record<string, unknown> {
  const all = statements(source);
  const def = topLevelDefs(all).find((d) => d.name === name);
  if (!def) return {};
  let found: Record<string, unknown> | null = null;
  for (let i = def.index - 1; i >= 0 && all[i]!.indent === 0 && all[i]!.text.startsWith("@"); i--) {
    const match = /^@\s*([\w.]+)\s*(?:\(([\s\S]*)\))?\s*$/.exec(all[i]!.text);
    if (!match || match[1]!.split(".").pop() !== "pixyz_schedule") continue;
    found = {};
    for (const arg of splitArgs(match[2] ?? "")) {
      const kw = /^([A-Za-z_]\w*)\s*=\s*([\s\S]+)$/.exec(arg);
      if (!kw) continue;
      const value = literalValue(kw[2]!.trim());
      if (value !== undefined) found[kw[1]!] = value;
    }
    break; // walking up: the first one met is the last decorator
  }
  return found ?? {};
}
