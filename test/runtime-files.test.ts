// <data>/runtime at start (runner/runtime.ts): the processes, the Python package and the harness are
// written again at every start, while the processes' libraries (12 MB) are copied only when the
// stamp beside them or a file's size says they are not this build's.
import { afterAll, expect, test } from "bun:test";
import { readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { processLibraryFiles, processLibraryStamp } from "../src/generated/process-files.ts";
import { librariesCurrent } from "../src/runner/process-libraries.ts";
import { prepareRuntime } from "../src/runner/runtime.ts";
import { tempDir } from "./helpers/daemon.ts";

const dataDir = tempDir("pxs-runtime-");
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const runtimeDir = join(dataDir, "runtime");
const processDir = join(runtimeDir, "process");
const libFile = (path: string) => join(processDir, path);
/** Inode and modification time: a rewrite replaces one or the other. */
const identity = (path: string) => {
  const s = statSync(path);
  return `${s.ino}:${s.mtimeMs}`;
};

test("the libraries are copied at the first start, with the stamp beside process/", () => {
  prepareRuntime(dataDir);
  expect(readdirSync(join(processDir, "lib")).sort()).toEqual(
    processLibraryFiles.map((f) => f.path.replace(/^lib\//, "")).sort(),
  );
  for (const { path, file } of processLibraryFiles) {
    expect(statSync(libFile(path)).size).toBe(statSync(file).size);
    expect(statSync(libFile(path)).mode & 0o777).toBe(0o644);
  }
  expect(readFileSync(join(runtimeDir, "process-lib.stamp"), "utf8")).toBe(processLibraryStamp);
  expect(librariesCurrent(processDir)).toBe(true);
});

test("a second start keeps them, and still replaces the processes and the Python package whole", () => {
  const before = processLibraryFiles.map((f) => identity(libFile(f.path)));
  writeFileSync(join(processDir, "stray.ts"), "export {};\n");
  writeFileSync(join(runtimeDir, "python", "stray.py"), "\n");
  prepareRuntime(dataDir);
  expect(processLibraryFiles.map((f) => identity(libFile(f.path)))).toEqual(before);
  expect(readdirSync(processDir)).not.toContain("stray.ts");
  expect(readdirSync(processDir)).toContain("lib");
  expect(readdirSync(join(runtimeDir, "python"))).not.toContain("stray.py");
});

test("a library cut short, or another build's stamp, has them copied again", () => {
  const [first] = processLibraryFiles;
  truncateSync(libFile(first!.path), 10);
  expect(librariesCurrent(processDir)).toBe(false);
  prepareRuntime(dataDir);
  expect(statSync(libFile(first!.path)).size).toBe(statSync(first!.file).size);

  writeFileSync(join(runtimeDir, "process-lib.stamp"), "another build");
  writeFileSync(join(processDir, "lib", "left-over.js"), "\n");
  prepareRuntime(dataDir);
  expect(readFileSync(join(runtimeDir, "process-lib.stamp"), "utf8")).toBe(processLibraryStamp);
  expect(readdirSync(join(processDir, "lib"))).not.toContain("left-over.js");
});
