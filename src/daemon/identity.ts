// Things the daemon keeps in its data folder about itself: the API token (when none is configured)
// and its stable node id (for federation).
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { chmodSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileDurably } from "../storage/fsync.ts";

export interface TokenSetup {
  sha256: string;
  /** Where the generated token is, when the daemon made one; null when GOD_PASSWORD_SHA256 is set. */
  tokenFile: string | null;
  /** True when this start created the token file. */
  created: boolean;
}

/**
 * A kept value is printable ASCII without spaces (generated: base64url or a uuid; an operator may
 * write their own). Empty, or zeros a power loss left where the bytes had not reached the disk,
 * is not one.
 */
const KEPT_FORMAT = /^[\x21-\x7e]+$/;

/**
 * Reads the value kept in `file`, or makes one with `create` when the file is missing or does not
 * hold a well-formed one: empty (a crash between its creation and its write) or zeros (a power
 * loss before its bytes reached the disk). Written durably: whole or absent after a power loss.
 */
function keptValue(file: string, create: () => string, mode: number): { value: string; created: boolean } {
  const stored = existsSync(file) ? readFileSync(file, "utf8").trim() : "";
  if (KEPT_FORMAT.test(stored)) return { value: stored, created: false };
  const value = create();
  writeFileDurably(file, `${value}\n`, mode);
  return { value, created: true };
}

/** GOD_PASSWORD_SHA256 when set; otherwise a random token created once in <data>/api-token (0600). */
export function ensureToken(dataDir: string, configured: string | null): TokenSetup {
  if (configured) return { sha256: configured, tokenFile: null, created: false };
  const tokenFile = join(dataDir, "api-token");
  const { value: token, created } = keptValue(tokenFile, () => randomBytes(32).toString("base64url"), 0o600);
  chmodSync(tokenFile, 0o600);
  return { sha256: createHash("sha256").update(token).digest("hex"), tokenFile, created };
}

/** The node's id (federation, and the marker on every process it starts), made once in <data>/node-id. */
export function ensureNodeId(dataDir: string): string {
  return keptValue(join(dataDir, "node-id"), randomUUID, 0o644).value;
}
