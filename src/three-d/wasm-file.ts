// Where the wasm files of assimpjs and occt-import-js are. Built-in processes run the bundle
// <data>/runtime/process/lib/three-d.js, and the daemon writes the wasm files beside it at start
// (they travel inside the binary). From a checkout (tests, PROCESS_DIR pointing at process/), they
// are taken from the installed packages.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export function wasmBytes(file: string, pkg: string): Uint8Array {
  const beside = join(import.meta.dir, file);
  if (existsSync(beside)) return readFileSync(beside);
  try {
    return readFileSync(Bun.resolveSync(`${pkg}/dist/${file}`, import.meta.dir));
  } catch {
    throw new Error(
      `${file} is missing: it should be beside ${import.meta.dir} (written by the daemon at start)`,
    );
  }
}
