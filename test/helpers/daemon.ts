// Starts a real daemon in this process: a real HTTP server on a loopback port, a real SQLite file
// in a fresh temporary data folder, real child processes for jobs.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Config, loadConfig } from "../../src/config/config.ts";
import { type Daemon, startDaemon } from "../../src/daemon/daemon.ts";
import { silentLogger } from "../../src/log/logger.ts";

export const TOKEN = "test-token";
export const TOKEN_SHA256 = createHash("sha256").update(TOKEN).digest("hex");

export interface TestDaemon extends Daemon {
  dataDir: string;
  config: Config;
  /** fetch against the daemon, with the API token unless `auth: false`. */
  api(path: string, init?: RequestInit & { auth?: boolean }): Promise<Response>;
  /** POST /jobs with these form fields; File values are uploads. */
  submit(fields: Record<string, string | File>): Promise<Response>;
  /** Polls /jobs/{uuid}/details until the job reaches one of `statuses` (default: terminal). */
  waitFor(uuid: string, statuses?: string[], timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Stops the daemon and removes its data folder (unless keepData). */
  close(options?: { keepData?: boolean }): Promise<void>;
}

export function tempDir(prefix = "pxs-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startTestDaemon(
  env: Record<string, string> = {},
  dataDir = tempDir(),
): Promise<TestDaemon> {
  const config = loadConfig({
    env: {
      API_HOST: "127.0.0.1",
      API_PORT: "0",
      DATA_DIR: dataDir,
      GOD_PASSWORD_SHA256: TOKEN_SHA256,
      SLOTS: "cpu:2",
      ...env,
    },
  });
  const daemon = await startDaemon(config, silentLogger);
  const api = (path: string, init: RequestInit & { auth?: boolean } = {}) => {
    const headers = new Headers(init.headers);
    if (init.auth !== false) headers.set("x-api-key", TOKEN);
    return fetch(`${daemon.url}${path}`, { ...init, headers });
  };
  return {
    ...daemon,
    dataDir,
    config,
    api,
    submit(fields) {
      const form = new FormData();
      for (const [key, value] of Object.entries(fields)) form.append(key, value);
      return api("/jobs", { method: "POST", body: form });
    },
    async waitFor(uuid, statuses = ["SUCCESS", "FAILURE", "REVOKED"], timeoutMs = 20000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const res = await api(`/jobs/${uuid}/details`);
        const body = (await res.json()) as Record<string, unknown>;
        if (statuses.includes(body.status as string)) return body;
        if (Date.now() > deadline) throw new Error(`job ${uuid} still ${body.status} after ${timeoutMs} ms`);
        await Bun.sleep(25);
      }
    },
    async close(options = {}) {
      await daemon.stop(2000);
      if (!options.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function scriptFile(source: string, name = "script.ts"): File {
  return new File([source], name, { type: "text/typescript" });
}
