// Finding a file by name among relative paths. Shared by the daemon (params.filename at
// submission) and the job harness (ctx.inputFile(name)); pure, no imports.

export type FoundFile = { path: string } | { error: "missing" | "ambiguous"; candidates: string[] };

/**
 * `name` among `files`: the exact relative path, else the one file whose path ends with `/name`
 * (a base name, or the end of a path).
 * Returns the match, or why there is none.
 */
export function findFile(files: readonly string[], name: string): FoundFile {
  const wanted = name.replaceAll("\\", "/").replace(/^\.\//, "");
  if (files.includes(wanted)) return { path: wanted };
  const byBase = files.filter((f) => f === wanted || f.endsWith(`/${wanted}`));
  if (byBase.length === 1) return { path: byBase[0]! };
  return byBase.length === 0
    ? { error: "missing", candidates: [] }
    : { error: "ambiguous", candidates: byBase };
}
