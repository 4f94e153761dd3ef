// Reads a script without running it: which functions it exports (the entrypoint check) and the
// documentation of its entrypoint (the process doc), as the original's SourceInspector did for Python.

export class ScriptError extends Error {}

export const SCRIPT_EXTENSIONS = [".ts", ".mts", ".js", ".mjs"] as const;

export function isSupportedScript(fileName: string): boolean {
  return SCRIPT_EXTENSIONS.some((ext) => fileName.toLowerCase().endsWith(ext));
}

function loaderFor(fileName: string): "ts" | "js" {
  return /\.m?ts$/i.test(fileName) ? "ts" : "js";
}

/** Names exported by the script; a script that does not parse is a ScriptError with the parser's words. */
export function exportedNames(source: string, fileName: string): string[] {
  try {
    return new Bun.Transpiler({ loader: loaderFor(fileName) }).scan(source).exports;
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

/** The JSDoc block right above `export [async] function <entrypoint>`, as plain text; or null. */
export function entrypointDoc(source: string, entrypoint = "main"): string | null {
  const pattern = new RegExp(
    `/\\*\\*([\\s\\S]*?)\\*/\\s*export\\s+(?:async\\s+)?function\\s*\\*?\\s*${entrypoint}\\b`,
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
