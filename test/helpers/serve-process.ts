// Starts `pixyz-scheduler serve` as a separate OS process (from source with bun, or the compiled
// binary), for what an in-process daemon cannot show: a crash (SIGKILL), signal handling, the exit code.
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type TestClient, testClient } from "./client.ts";
import { TOKEN_SHA256 } from "./daemon.ts";

export interface ServeProcess extends TestClient {
  proc: ReturnType<typeof Bun.spawn>;
  url: string;
  logFile: string;
  /** What the daemon wrote on stdout and stderr so far. */
  log(): string;
}

/** A TCP port nothing listens on right now (the OS picks it). */
export function freePort(): number {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = server.port!;
  server.stop(true);
  return port;
}

/**
 * Runs `command serve --port <free> --data-dir <dataDir>` and waits until GET / answers.
 * `command` is e.g. [binary] or [process.execPath, "src/cli/main.ts"].
 */
export async function startServeProcess(
  command: string[],
  options: {
    dataDir: string;
    cwd?: string;
    env?: Record<string, string>;
    /** false: the child gets only `env` and the daemon settings, not this process's environment. */
    inheritEnv?: boolean;
    readyTimeoutMs?: number;
  },
): Promise<ServeProcess> {
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  mkdirSync(options.dataDir, { recursive: true });
  const logFile = join(options.dataDir, `serve-${port}.log`);
  const logFd = openSync(logFile, "a");
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(options.inheritEnv === false ? {} : process.env)) {
    // BUN_BE_BUN would make a compiled binary start as the bun CLI instead of itself.
    if (value !== undefined && key !== "BUN_BE_BUN") env[key] = value;
  }
  const proc = Bun.spawn([...command, "serve", "--port", String(port), "--data-dir", options.dataDir], {
    cwd: options.cwd,
    env: {
      ...env,
      API_HOST: "127.0.0.1",
      GOD_PASSWORD_SHA256: TOKEN_SHA256,
      SLOTS: "cpu:2",
      ...options.env,
    },
    stdio: ["ignore", logFd, logFd],
  });
  closeSync(logFd);
  const log = () => readFileSync(logFile, "utf8");

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30000);
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`the daemon exited (${proc.exitCode ?? proc.signalCode}) before answering:\n${log()}`);
    }
    const ok = await fetch(`${url}/`)
      .then((res) => res.status < 500)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`the daemon did not answer on ${url} in time:\n${log()}`);
    }
    await Bun.sleep(50);
  }

  return {
    proc,
    url,
    logFile,
    log,
    ...testClient(url, 30000, () => `; daemon log:\n${log()}`),
  };
}
