// The daemon's kept values in its data folder (daemon/identity.ts): the node id and the generated
// API token. Made once, written whole or not at all; a file a power loss left empty or as zeros
// (its bytes had not reached the disk) is made again instead of being used.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureNodeId, ensureToken } from "../src/daemon/identity.ts";
import { tempDir } from "./helpers/daemon.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test("the node id is made once and read back; zeros or an empty file get a fresh one", () => {
  const dataDir = tempDir();
  const id = ensureNodeId(dataDir);
  expect(id).toMatch(UUID);
  expect(ensureNodeId(dataDir)).toBe(id);
  // What a power loss leaves of a file whose size reached the disk but not its bytes.
  writeFileSync(join(dataDir, "node-id"), "\0".repeat(37));
  const fresh = ensureNodeId(dataDir);
  expect(fresh).toMatch(UUID);
  expect(readFileSync(join(dataDir, "node-id"), "utf8")).toBe(`${fresh}\n`);
  writeFileSync(join(dataDir, "node-id"), "");
  expect(ensureNodeId(dataDir)).toMatch(UUID);
  // An id an operator wrote is kept as it is; no temporary file is left beside it.
  writeFileSync(join(dataDir, "node-id"), "render-box-3\n");
  expect(ensureNodeId(dataDir)).toBe("render-box-3");
  expect(readdirSync(dataDir).sort()).toEqual(["node-id"]);
});

test("a token file left as zeros gets a fresh token (0600), and a restart keeps a good one", () => {
  const dataDir = tempDir();
  const file = join(dataDir, "api-token");
  const first = ensureToken(dataDir, null);
  expect(first.created).toBe(true);
  expect(ensureToken(dataDir, null)).toEqual({ ...first, created: false });
  writeFileSync(file, "\0".repeat(44));
  const fresh = ensureToken(dataDir, null);
  expect(fresh.created).toBe(true);
  expect(fresh.sha256).not.toBe(first.sha256);
  expect(readFileSync(file, "utf8").trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(statSync(file).mode & 0o777).toBe(0o600);
});
