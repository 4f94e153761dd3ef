// A job's output is checked on the file the daemon opened, not on the name a moment before: a job
// still running may swap a checked name (or a folder above it) for a link between the check and the
// open. Each case does that swap after resolveInside passed, as the race would.
import { afterAll, describe, expect, test } from "bun:test";
import {
  closeSync,
  linkSync,
  mkdirSync,
  readSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { NotOwnFileError, openOwnFile, resolveInside, UnsafePathError } from "../src/storage/safe-path.ts";
import { tempDir } from "./helpers/daemon.ts";

const root = tempDir("pxs-open-own-");
const outputs = join(root, "outputs");
const outside = join(root, "secret");
mkdirSync(join(outputs, "sub"), { recursive: true });
mkdirSync(outside);
writeFileSync(join(outside, "token"), "SECRET");
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** resolveInside passes on a plain file; then `swap` runs, as a job would between check and open. */
function checkedThenSwapped(name: string, swap: (path: string) => void) {
  const path = join(outputs, name);
  writeFileSync(path, "own bytes");
  expect(resolveInside(outputs, name)).toBe(path);
  swap(path);
  return () => openOwnFile(outputs, path);
}

describe("openOwnFile", () => {
  test("a plain output opens, and reads its own bytes", () => {
    const path = resolveInside(outputs, "plain.txt");
    writeFileSync(path, "own bytes");
    const opened = openOwnFile(outputs, path)!;
    const buffer = Buffer.alloc(64);
    expect(buffer.subarray(0, readSync(opened.fd, buffer)).toString()).toBe("own bytes");
    expect(opened.info.size).toBe(9);
    closeSync(opened.fd);
  });

  test("the name swapped for a symlink to a file outside: refused, not followed", () => {
    const open = checkedThenSwapped("a.txt", (path) => {
      rmSync(path);
      symlinkSync(join(outside, "token"), path);
    });
    expect(open).toThrow(NotOwnFileError);
    expect(open).toThrow("symbolic link");
  });

  test("a folder above it swapped for a symlink to a folder outside: the opened file is outside", () => {
    const open = checkedThenSwapped("sub/token", () => {
      rmSync(join(outputs, "sub"), { recursive: true });
      symlinkSync(outside, join(outputs, "sub"));
    });
    expect(open).toThrow(UnsafePathError);
    expect(open).toThrow("leads outside its folder");
  });

  test("the name swapped for a hard link to a file outside: refused (two names)", () => {
    const open = checkedThenSwapped("b.txt", (path) => {
      rmSync(path);
      linkSync(join(outside, "token"), path);
    });
    expect(open).toThrow(NotOwnFileError);
    expect(open).toThrow("other names");
  });

  test("the name swapped for a FIFO: no file, at once (the open waits for no writer)", () => {
    const open = checkedThenSwapped("c.txt", (path) => {
      rmSync(path);
      expect(Bun.spawnSync(["mkfifo", path]).exitCode).toBe(0);
    });
    expect(open()).toBeNull();
  });

  test("the name gone, or its folder renamed away: no file", () => {
    expect(checkedThenSwapped("d.txt", (path) => rmSync(path))()).toBeNull();
    mkdirSync(join(outputs, "moving"));
    const moved = checkedThenSwapped("moving/e.txt", () =>
      renameSync(join(outputs, "moving"), join(root, "moved")),
    );
    expect(moved()).toBeNull();
  });
});
