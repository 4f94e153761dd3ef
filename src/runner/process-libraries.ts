// The built-in processes' libraries (the bundle three-d.js and the wasm files of assimpjs and
// occt-import-js, about 12 MB: src/generated/process-files.ts) copied under
// <data>/runtime/process/lib, where the processes import them from.
//
// Inside the compiled binary those files are pages of the executable: reading them maps 12 MB of
// it into the reader, and that stays in its RSS (plus the buffers read). So the copy is skipped when
// the stamp beside it says it holds this binary's files already, and otherwise made by a short-lived
// child (the same executable, `WRITE_COMMAND`), so the daemon never touches those pages. From
// sources, the files are ordinary files: the kernel copies them (copyFileSync) without reading them
// into this process either.
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { processLibraryFiles, processLibraryStamp } from "../generated/process-files.ts";

/** The hidden command of src/cli/main.ts that writes the libraries: `<binary> WRITE_COMMAND <processDir>`. */
export const WRITE_COMMAND = "__write-process-libraries";
/** Beside process/, not in lib/: lib/ holds exactly the files of the binary. */
const STAMP_FILE = "process-lib.stamp";

const embedded = (file: string) => file.startsWith("/$bunfs/");
const stampPath = (processDir: string) => join(dirname(processDir), STAMP_FILE);

/** Whether `processDir/lib` holds this binary's libraries: the stamp matches and every file has its size. */
export function librariesCurrent(processDir: string): boolean {
  try {
    if (readFileSync(stampPath(processDir), "utf8") !== processLibraryStamp) return false;
    return processLibraryFiles.every(
      ({ path, file }) => statSync(join(processDir, path)).size === statSync(file).size,
    );
  } catch {
    return false;
  }
}

/** Writes the libraries here, in this process (what the child runs; the fallback when it fails). */
function writeHere(processDir: string): void {
  for (const { path, file } of processLibraryFiles) {
    const target = join(processDir, path);
    mkdirSync(dirname(target), { recursive: true });
    if (embedded(file)) writeFileSync(target, readFileSync(file), { mode: 0o644 });
    else copyFileSync(file, target);
  }
}

/**
 * Makes `processDir/lib` hold this binary's libraries, unless it does already; the stamp is written
 * last, so a copy cut short is made again at the next start.
 */
export function writeProcessLibraries(processDir: string): void {
  if (librariesCurrent(processDir)) return;
  rmSync(stampPath(processDir), { force: true });
  rmSync(join(processDir, "lib"), { recursive: true, force: true });
  let written = false;
  if (processLibraryFiles.some((f) => embedded(f.file))) {
    const { BUN_BE_BUN: _, ...env } = process.env;
    const child = Bun.spawnSync([process.execPath, WRITE_COMMAND, processDir], {
      env,
      stdio: ["ignore", "ignore", "inherit"],
    });
    written = child.exitCode === 0;
  }
  // From sources, or when the child could not do it: here (the copy must be there either way).
  if (!written) writeHere(processDir);
  writeFileSync(stampPath(processDir), processLibraryStamp, { mode: 0o644 });
}

/** The child's side: `<binary> WRITE_COMMAND <processDir>`. */
export async function run(argv: string[]): Promise<number> {
  const [processDir] = argv;
  if (!processDir || argv.length !== 1) {
    console.error(`usage: ${WRITE_COMMAND} <process dir> (run by the daemon at start)`);
    return 2;
  }
  writeHere(processDir);
  return 0;
}
