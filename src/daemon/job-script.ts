// Which script file a job runs: a custom job's own uploaded copy, or its process's registered file.
// The scheduler (to start it) and child jobs (to run the parent's script) ask the same question.
import { join } from "node:path";
import type { ProcessRegistry } from "../scripts/registry.ts";
import type { JobFolders } from "../storage/job-folders.ts";
import type { JobRow } from "../store/schema.ts";

export type ScriptOf = (job: Pick<JobRow, "process" | "uuid" | "scriptFile">) => string | null;

/** The daemon's answer; null when the file is unknown (a process no longer registered). */
export function jobScriptOf(folders: Pick<JobFolders, "scriptDir">, registry: ProcessRegistry): ScriptOf {
  return (job) => {
    if (job.process !== "custom") return registry.get(job.process)?.path ?? null;
    return job.scriptFile ? join(folders.scriptDir(job.uuid), job.scriptFile) : null;
  };
}
