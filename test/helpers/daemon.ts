// Starts a real daemon in this process: a real HTTP server on a loopback port, a real SQLite file
// in a fresh temporary data folder, real child processes for jobs.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Config, loadConfig } from "../../src/config/config.ts";
import { type Daemon, startDaemon } from "../../src/daemon/daemon.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { type TestClient, TOKEN, testClient } from "./client.ts";

export { TOKEN };
export const TOKEN_SHA256 = createHash("sha256").update(TOKEN).digest("hex");

export interface TestDaemon extends Daemon, TestClient {
  dataDir: string;
  config: Config;
  /** Stops the daemon and removes its data folder (unless keepData). */
  close(options?: { keepData?: boolean }): Promise<void>;
}

/** Every folder tempDir made in this test process (removeTempDirs: once every test has run). */
const madeFolders: string[] = [];

/** Removes what tempDir made, whatever each test did with it (test/helpers/after-all.ts). */
export function removeTempDirs(): void {
  for (const dir of madeFolders.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * The submissions under way in a data folder's staging: the folders the daemon made ahead for the
 * next ones (in .staging/.ready) are not counted. [] when there is no staging folder yet.
 */
export function stagedUploads(dataDir: string): string[] {
  const staging = join(dataDir, "jobs", ".staging");
  if (!existsSync(staging)) return [];
  return readdirSync(staging).filter((name) => name !== ".ready");
}

export function tempDir(prefix = "pxs-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  madeFolders.push(dir);
  return dir;
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
  return {
    ...daemon,
    ...testClient(daemon.url, 20000),
    dataDir,
    config,
    async close(options = {}) {
      await daemon.stop(2000);
      if (!options.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function scriptFile(source: string, name = "script.ts"): File {
  return new File([source], name, { type: "text/typescript" });
}
