// What a child needs on disk: the job harness and the built-in processes, both carried inside the
// binary (src/generated/embedded.ts) and written to <data>/runtime at start. Also how to start the
// runtime: the compiled binary runs scripts with itself as Bun (BUN_BE_BUN=1), a dev checkout with bun.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { builtinProcesses, harnessSource } from "../generated/embedded.ts";

export interface Runtime {
  /** argv prefix that runs a script file: [bun, "--no-install"] (no auto-install: no code from the network). */
  command: string[];
  /** Environment the runtime itself needs (BUN_BE_BUN for the compiled binary). */
  env: Record<string, string>;
  harnessPath: string;
  builtinProcessDir: string;
}

function writeIfChanged(path: string, content: string): void {
  if (existsSync(path) && readFileSync(path, "utf8") === content) return;
  writeFileSync(path, content, { mode: 0o644 });
}

export function prepareRuntime(dataDir: string): Runtime {
  const dir = join(dataDir, "runtime");
  const processDir = join(dir, "process");
  // The built-in set is replaced whole: a process removed from the binary must not linger.
  rmSync(processDir, { recursive: true, force: true });
  mkdirSync(processDir, { recursive: true });
  for (const process of builtinProcesses)
    writeFileSync(join(processDir, process.file), process.source, { mode: 0o644 });
  const hash = createHash("sha256").update(harnessSource).digest("hex").slice(0, 12);
  const harnessPath = join(dir, `harness-${hash}.js`);
  writeIfChanged(harnessPath, harnessSource);
  const compiled = Bun.main.startsWith("/$bunfs/");
  return {
    command: [process.execPath, "--no-install"],
    env: compiled ? { BUN_BE_BUN: "1" } : {},
    harnessPath,
    builtinProcessDir: processDir,
  };
}
