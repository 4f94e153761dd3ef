// What a child needs on disk: the job harness, the built-in processes and the Python compatibility
// package, all carried inside the binary (src/generated/embedded.ts) and written to <data>/runtime at
// start. Also how to start the runtime: the compiled binary runs scripts with itself as Bun
// (BUN_BE_BUN=1), a dev checkout with bun; .py scripts run with the Python resolved at start.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { builtinProcesses, harnessSource, pythonFiles } from "../generated/embedded.ts";
import type { PythonInterpreter } from "./python.ts";

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
}

function writeIfChanged(path: string, content: string): void {
  if (existsSync(path) && readFileSync(path, "utf8") === content) return;
  writeFileSync(path, content, { mode: 0o644 });
}

/** Replaces `dir` whole with `files`: a file removed from the binary must not linger. */
function writeFolder(dir: string, files: readonly { path: string; source: string }[]): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const file of files) {
    const path = join(dir, file.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.source, { mode: 0o644 });
  }
}

export function prepareRuntime(dataDir: string, interpreter: PythonInterpreter | null = null): Runtime {
  const dir = join(dataDir, "runtime");
  const processDir = join(dir, "process");
  writeFolder(
    processDir,
    builtinProcesses.map((p) => ({ path: p.file, source: p.source })),
  );
  const pythonDir = join(dir, "python");
  writeFolder(pythonDir, pythonFiles);
  const hash = createHash("sha256").update(harnessSource).digest("hex").slice(0, 12);
  const harnessPath = join(dir, `harness-${hash}.js`);
  writeIfChanged(harnessPath, harnessSource);
  const compiled = Bun.main.startsWith("/$bunfs/");
  return {
    command: [process.execPath, "--no-install"],
    env: compiled ? { BUN_BE_BUN: "1" } : {},
    harnessPath,
    builtinProcessDir: processDir,
    python: { path: pythonDir, harnessPath: join(pythonDir, "harness.py"), interpreter },
  };
}
