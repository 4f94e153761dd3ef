// Which Python runs .py jobs: PYTHON_BIN (default python3) resolved once, at start, to the absolute
// interpreter it stands for. A launcher such as a pyenv shim costs hundreds of ms per call; the
// interpreter itself does not. A missing or too old Python only fails .py jobs, with this error.

import { existsSync } from "node:fs";

export interface PythonInterpreter {
  /** Absolute path of the interpreter (sys.executable), or null when there is none. */
  path: string | null;
  /** "3.11", when found. */
  version: string | null;
  /** Why .py jobs cannot run, when path is null. */
  error: string | null;
}

const MIN_VERSION = [3, 8] as const;
const PROBE = "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])";

/** Never throws: a failure is in `error`. */
export async function resolvePython(bin: string, timeoutMs = 10_000): Promise<PythonInterpreter> {
  const notFound = (why?: string): PythonInterpreter => ({
    path: null,
    version: null,
    error: `PYTHON_BIN '${bin}' not found: install Python 3 or set PYTHON_BIN${why ? ` (${why})` : ""}`,
  });
  const found = bin.includes("/") ? (existsSync(bin) ? bin : null) : Bun.which(bin);
  if (!found) return notFound();
  let proc: ReturnType<typeof Bun.spawn>;
  try {
    proc = Bun.spawn([found, "-c", PROBE], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  } catch (error) {
    return notFound((error as Error).message);
  }
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout as ReadableStream).text(),
    new Response(proc.stderr as ReadableStream).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  if (code !== 0) {
    const why =
      err.trim().split("\n").pop() ||
      (proc.signalCode ? `no answer in ${timeoutMs} ms` : `exit code ${code}`);
    return notFound(why);
  }
  const [executable, version] = out.trim().split("\n");
  const [major, minor] = (version ?? "").split(".").map(Number);
  if (major === undefined || minor === undefined || Number.isNaN(major) || Number.isNaN(minor)) {
    return notFound(`unexpected answer: ${out.trim().slice(0, 200)}`);
  }
  if (major < MIN_VERSION[0] || (major === MIN_VERSION[0] && minor < MIN_VERSION[1])) {
    return {
      path: null,
      version: `${major}.${minor}`,
      error: `PYTHON_BIN '${bin}' is Python ${major}.${minor}: Python ${MIN_VERSION.join(".")} or newer is needed`,
    };
  }
  return {
    path: executable?.startsWith("/") ? executable : found,
    version: `${major}.${minor}`,
    error: null,
  };
}

/**
 * The variables a Python job (cold or forked) and the fork server start with: the compatibility
 * package first on the path, then the daemon's own PYTHONPATH (an operator's pxz, ...).
 */
export function pythonJobEnv(packageDir: string): Record<string, string> {
  const pythonPath = [packageDir, process.env.PYTHONPATH].filter((p) => p).join(":");
  return { PYTHONPATH: pythonPath, PYTHONIOENCODING: "utf-8" };
}
