// Moving a job's files between peers, on real files: the hash a manifest gives, and a received file
// that is put in place only when its bytes match the signed SHA-256.
import { afterEach, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashFile, manifest, receiveFile } from "../src/federation/files.ts";
import { tempDir } from "./helpers/daemon.ts";

const folders: string[] = [];
afterEach(() => {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** `bytes` as a request body arrives: in pieces of uneven sizes. */
function streamOf(bytes: Uint8Array, piece = 65_521): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.subarray(at, at + piece));
      at += piece;
    },
  });
}

describe("federation files", () => {
  test("hashFile and the manifest hash files larger than one read, and empty ones", async () => {
    const root = tempDir();
    folders.push(root);
    const big = randomBytes(9 * 1024 * 1024 + 7);
    mkdirSync(join(root, "inputs/sub"), { recursive: true });
    writeFileSync(join(root, "inputs/sub/big.bin"), big);
    writeFileSync(join(root, "inputs/empty"), "");
    expect(await hashFile(join(root, "inputs/sub/big.bin"))).toBe(sha256(big));
    expect(await manifest(root, ["inputs"])).toEqual([
      { path: "inputs/empty", size: 0, sha256: sha256(new Uint8Array()) },
      { path: "inputs/sub/big.bin", size: big.length, sha256: sha256(big) },
    ]);
  });

  test("a received file is in place, whole, only when it matches its SHA-256; otherwise nothing is left", async () => {
    const root = tempDir();
    folders.push(root);
    const bytes = randomBytes(3 * 1024 * 1024 + 11);
    const dest = join(root, "outputs/deep/result.bin");
    expect(await receiveFile(streamOf(bytes), dest, sha256(bytes), true)).toBe(bytes.length);
    expect(readFileSync(dest).equals(bytes)).toBe(true);

    const other = join(root, "outputs/deep/other.bin");
    await expect(receiveFile(streamOf(bytes), other, sha256(randomBytes(8)), false)).rejects.toThrow(
      "does not match its SHA-256",
    );
    expect(existsSync(other)).toBe(false);
    // No temporary file is left beside it either.
    expect(readdirSync(join(root, "outputs/deep"))).toEqual(["result.bin"]);
  });

  test("a body that breaks off leaves nothing behind", async () => {
    const root = tempDir();
    folders.push(root);
    let sent = 0;
    const broken = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ === 3) return controller.error(new Error("the connection was reset"));
        controller.enqueue(new Uint8Array(64 * 1024).fill(1));
      },
    });
    const dest = join(root, "outputs/cut.bin");
    await expect(receiveFile(broken, dest, sha256(new Uint8Array()), true)).rejects.toThrow("reset");
    expect(readdirSync(join(root, "outputs"))).toEqual([]);
  });
});
