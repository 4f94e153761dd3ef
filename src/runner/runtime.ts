// What a child needs on disk: the job harness, the built-in processes (with their bundled
// libraries and wasm files) and the Python compatibility package, all carried inside the binary
// (src/generated/embedded.ts, process-files.ts) and written to <data>/runtime at start. Also how
// to start the runtime: the compiled binary runs scripts with itself as Bun (BUN_BE_BUN=1), a dev
// checkout with bun; .py scripts run with the Python resolved at start.
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { builtinProcesses, harnessSource, pythonFiles } from "../generated/embedded.ts";
import type { JobUser } from "./job-user.ts";
import { writeProcessLibraries } from "./process-libraries.ts";
import type { PythonInterpreter } from "./python.ts";
import type { Sandbox } from "./sandbox.ts";

export interface Runtime {
  /** argv prefix that runs a script file: [bun, "--no-install"] (no auto-install: no code from the network). */
  command: string[];
  /** Environment the runtime itself needs (BUN_BE_BUN for the compiled binary). */
  env: Record<string, string>;
  harnessPath: string;
  builtinProcessDir: string;
  python: {
    /** <data>/runtime/python: pixyz_worker and the celery shim (the jobs' PYTHONPATH), harness.py. */
    path: string;
    harnessPath: string;
    /** Resolved once at start (resolvePython); null until then. */
    interpreter: PythonInterpreter | null;
  };
  /** Who job processes run as (JOB_USER, set at start); unset: the daemon's own user. */
  jobUser?: JobUser | null;
  /** JOB_SANDBOX=bwrap, set at start: each job in a sandbox that shows only its own folder. */
  sandbox?: Sandbox | null;
}

/** What a warm harness rehearses a job with: a no-op script, as a TS job's would be. */
const REHEARSAL_SCRIPT = "export async function main(_ctx: unknown, _params: unknown) {\n  return null;\n}\n";

function writeIfChanged(path: string, content: string): void {
  if (existsSync(path) && readFileSync(path, "utf8") === content) return;
  writeFileSync(path, content, { mode: 0o644 });
}

/**
 * Replaces `dir` whole with `files` (a file removed from the binary must not linger), except the
 * entries named in `keep`, which their own writer replaces when they changed.
 */
function writeFolder(
  dir: string,
  files: readonly { path: string; source: string }[],
  keep: readonly string[] = [],
): void {
  if (keep.length === 0) rmSync(dir, { recursive: true, force: true });
  else if (existsSync(dir)) {
    for (const entry of readdirSync(dir)) {
      if (!keep.includes(entry)) rmSync(join(dir, entry), { recursive: true, force: true });
    }
  }
  mkdirSync(dir, { recursive: true });
  for (const file of files) {
    const path = join(dir, file.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.source, { mode: 0o644 });
  }
}

/**
 * Folders 0755, files 0644 whatever the daemon's umask (systemd's UMask=0027): a job running as
 * JOB_USER reads them as "other". Nothing here is secret: it all ships inside the binary.
 */
function makeReadable(path: string): void {
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) makeReadable(child);
    else if (entry.isFile()) chmodSync(child, 0o644);
  }
  chmodSync(path, 0o755);
}

export function prepareRuntime(dataDir: string, interpreter: PythonInterpreter | null = null): Runtime {
  const dir = join(dataDir, "runtime");
  const processDir = join(dir, "process");
  writeFolder(
    processDir,
    builtinProcesses.map((p) => ({ path: p.file, source: p.source })),
    ["lib"],
  );
  // The libraries (12 MB) only when they changed, and never read into this process.
  writeProcessLibraries(processDir);
  const pythonDir = join(dir, "python");
  writeFolder(pythonDir, pythonFiles);
  const hash = createHash("sha256").update(harnessSource).digest("hex").slice(0, 12);
  const harnessPath = join(dir, `harness-${hash}.js`);
  writeIfChanged(harnessPath, harnessSource);
  // The no-op job an idle warm harness runs before its first one (harness.ts, rehearse).
  writeIfChanged(join(dir, "rehearsal.ts"), REHEARSAL_SCRIPT);
  makeReadable(dir);
  const compiled = Bun.main.startsWith("/$bunfs/");
  return {
    command: [process.execPath, "--no-install"],
    env: compiled ? { BUN_BE_BUN: "1" } : {},
    harnessPath,
    builtinProcessDir: processDir,
    python: { path: pythonDir, harnessPath: join(pythonDir, "harness.py"), interpreter },
  };
}
