// Things the daemon keeps in its data folder about itself: the API token (when none is configured)
// and its stable node id (for federation).
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TokenSetup {
  sha256: string;
  /** Where the generated token is, when the daemon made one; null when GOD_PASSWORD_SHA256 is set. */
  tokenFile: string | null;
  /** True when this start created the token file. */
  created: boolean;
}

/** GOD_PASSWORD_SHA256 when set; otherwise a random token created once in <data>/api-token (0600). */
export function ensureToken(dataDir: string, configured: string | null): TokenSetup {
  if (configured) return { sha256: configured, tokenFile: null, created: false };
  const tokenFile = join(dataDir, "api-token");
  let created = !existsSync(tokenFile);
  if (created) {
    writeFileSync(tokenFile, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600, flag: "wx" });
  }
  chmodSync(tokenFile, 0o600);
  let token = readFileSync(tokenFile, "utf8").trim();
  // An empty file (a crash between its creation and its write) would make an empty x-api-key
  // header the token: it gets a fresh one instead.
  if (token === "") {
    token = randomBytes(32).toString("base64url");
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    created = true;
  }
  return { sha256: createHash("sha256").update(token).digest("hex"), tokenFile, created };
}

export function ensureNodeId(dataDir: string): string {
  const file = join(dataDir, "node-id");
  if (!existsSync(file)) writeFileSync(file, `${randomUUID()}\n`, { flag: "wx" });
  return readFileSync(file, "utf8").trim();
}
