// Pre-registered processes: the built-in ones shipped inside the binary (process/, written to the
// data folder's runtime area at start so a child can run them) plus an optional external folder
// (PROCESS_DIR) whose files add to or override them by name.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, parse } from "node:path";
import { isSupportedScript } from "./inspect.ts";

export interface ProcessScript {
  name: string;
  /** Absolute path of the file a child runs. */
  path: string;
}

export const PROCESS_NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$/;

/** Whether a file name in a process folder names a process (the built-in folder and PROCESS_DIR alike). */
export function isProcessFile(file: string): boolean {
  const { name } = parse(file);
  return isSupportedScript(file) && PROCESS_NAME.test(name) && !name.startsWith("_");
}

export class ProcessRegistry {
  /** @param builtinDir where the built-in processes were written; @param externalDir PROCESS_DIR. */
  constructor(
    private readonly builtinDir: string,
    private readonly externalDir: string | null,
  ) {}

  private scan(dir: string | null, into: Map<string, ProcessScript>): void {
    if (!dir || !existsSync(dir)) return;
    for (const file of readdirSync(dir).sort()) {
      if (!isProcessFile(file)) continue;
      const { name } = parse(file);
      const path = join(dir, file);
      // Only plain files (or links to them): a folder named like a script is not a process.
      if (!statSync(path, { throwIfNoEntry: false })?.isFile()) continue;
      into.set(name, { name, path });
    }
  }

  /** Read on each call: an operator may drop a new file into PROCESS_DIR while the daemon runs. */
  private all(): Map<string, ProcessScript> {
    const found = new Map<string, ProcessScript>();
    this.scan(this.builtinDir, found);
    this.scan(this.externalDir, found);
    return found;
  }

  names(): string[] {
    return [...this.all().keys()].sort();
  }

  get(name: string): ProcessScript | null {
    if (!PROCESS_NAME.test(name)) return null;
    return this.all().get(name) ?? null;
  }

  source(process: ProcessScript): string {
    return readFileSync(process.path, "utf8");
  }
}
