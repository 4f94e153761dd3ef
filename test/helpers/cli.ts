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

/** Runs `argv` to its end and collects its output; `env` is the whole environment of the process. */
export async function runProcess(
  argv: string[],
  options: { cwd?: string; env?: Record<string, string | undefined>; stdin?: string } = {},
): Promise<CliRun> {
  const proc = Bun.spawn(argv, {
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

/** Runs `pixyz-scheduler <args>` to its end. */
export const runCli = (args: string[], options: Parameters<typeof runProcess>[1] = {}) =>
  runProcess([...FROM_SOURCE, ...args], options);
