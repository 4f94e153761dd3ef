// Runs the command line as a real process from source (`bun src/cli/main.ts ...`).
import { join } from "node:path";

export const MAIN = join(import.meta.dir, "../../src/cli/main.ts");
/** argv that starts the CLI from source, e.g. for startServeProcess. */
export const FROM_SOURCE = [process.execPath, MAIN];

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `pixyz-scheduler <args>` to its end; `env` is the whole environment of the process. */
export async function runCli(
  args: string[],
  options: { cwd?: string; env?: Record<string, string | undefined>; stdin?: string } = {},
): Promise<CliRun> {
  const proc = Bun.spawn([...FROM_SOURCE, ...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}
