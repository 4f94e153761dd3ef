// How this program was started, so that the commands its hints and usage lines show can be typed
// as they are in the same shell: the compiled binary as it was called (`pixyz-scheduler` found on
// the PATH, `./dist/pixyz-scheduler`), `npx pixyz-scheduler` from a clone, or `bun src/cli/main.ts`.
import { basename, isAbsolute, relative } from "node:path";

export interface Invocation {
  argv: readonly string[];
  /** argv[0] as it was typed (Bun keeps it in process.argv0). */
  argv0: string;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** Whether a command name is found on the PATH. */
  onPath(command: string): boolean;
}

const SCRIPT = /\.[cm]?[jt]sx?$/;

/** Quotes a word for a POSIX shell when it needs it. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A path as typed from `cwd`: relative below it, absolute elsewhere. */
function pathFrom(cwd: string, path: string): string {
  if (!isAbsolute(path)) return path;
  const rel = relative(cwd, path);
  return rel === "" || rel.startsWith("..") || isAbsolute(rel) ? path : rel;
}

/** The command npx ran (`npx pixyz-scheduler ...`, `npx bun ...`): its first word, or null. */
function npxCommand(env: Invocation["env"]): string | null {
  if (env.npm_lifecycle_event !== "npx") return null;
  const first = (env.npm_lifecycle_script ?? "").trim().split(/\s+/)[0] ?? "";
  return first.replace(/^(['"])(.*)\1$/, "$2") || null;
}

/** The command that starts this program, as hints show it (e.g. `npx pixyz-scheduler`). */
export function programName(how: Invocation = current()): string {
  const script = how.argv[1] ?? "";
  // The compiled binary: its main module lives in Bun's embedded file system.
  if (script.startsWith("/$bunfs/") || script.includes("~BUN")) {
    return shellWord(how.argv0 || "pixyz-scheduler");
  }
  const npx = npxCommand(how.env);
  // `npx pixyz-scheduler` in a clone (the package's own bin): the same again.
  if (npx !== null && basename(npx) !== "bun") return `npx ${shellWord(npx)}`;
  // Through another bin link (e.g. `npm link`): the link's name, when it is on the PATH.
  if (script !== "" && !SCRIPT.test(script)) {
    const name = basename(script);
    return how.onPath(name) ? shellWord(name) : shellWord(pathFrom(how.cwd, script));
  }
  // From source: the runtime as it was typed, then the script's path.
  const main = shellWord(pathFrom(how.cwd, script || "src/cli/main.ts"));
  const runtime =
    npx !== null
      ? "npx bun"
      : how.argv0.includes("/") || how.onPath(how.argv0)
        ? shellWord(how.argv0)
        : "bun";
  return `${runtime} ${main}`;
}

function current(): Invocation {
  return {
    argv: process.argv,
    argv0: process.argv0,
    env: process.env,
    cwd: process.cwd(),
    onPath: (command) => Bun.which(command) !== null,
  };
}

/** This process's program name, worked out once. */
export const PROGRAM = programName();
