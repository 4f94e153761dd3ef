// Keeping jobs away from the daemon (JOB_USER): at start, who jobs run as, and a data folder the job
// user can only pass through. It may reach runtime/ (the harness, built-in processes, the Python
// package) and, by name, the folder of a job while that job runs; never the token, the database,
// the lock or another job's folder. The jobs' uid differs from the daemon's, so they cannot signal it.
import { chmodSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import { ConfigError } from "../config/parse.ts";
import type { Logger } from "../log/logger.ts";
import { type JobUser, resolveJobUser } from "../runner/job-user.ts";
import type { Runtime } from "../runner/runtime.ts";
import { resolveSandbox } from "../runner/sandbox.ts";
import { closeJobFolder } from "../storage/job-access.ts";
import type { JobFolders } from "../storage/job-folders.ts";

/** The job user, or null (jobs run as the daemon's user: a root daemon is warned about). */
export function jobUserAtStart(config: Config, logger: Logger): JobUser | null {
  const user = resolveJobUser(config.jobUser, config.jobGroup);
  if (!user && config.jobSandbox !== "none") throw new ConfigError("JOB_SANDBOX=bwrap needs JOB_USER");
  if (!user && process.getuid?.() === 0) {
    logger.warn(
      "the daemon runs as root and so do its jobs: they can read the API token, the database and every job's files; set JOB_USER (e.g. JOB_USER=pixyz-job) to run jobs as another user",
    );
  }
  return user;
}

/** Top-level entries of the data folder the job user must pass through; all others are closed. */
const PASSED_THROUGH = new Set(["runtime", "jobs"]);

/**
 * Closes the data folder to `user` (after the token, database and runtime exist) and checks from
 * its side that the runtime is in reach; throws a ConfigError naming what it could not reach.
 */
export function isolateJobs(config: Config, folders: JobFolders, runtime: Runtime, user: JobUser): void {
  const dataDir = config.dataDir;
  // 0711: passable by name, not listable.
  chmodSync(dataDir, 0o711);
  for (const name of readdirSync(dataDir)) {
    if (PASSED_THROUGH.has(name)) continue;
    // api-token, jobs.sqlite (-wal, -shm), daemon.lock, daemon.pid, node-id, anything else.
    const path = join(dataDir, name);
    chmodSync(path, statSync(path).mode & 0o700);
  }
  chmodSync(folders.root, 0o711);
  chmodSync(folders.staging, 0o700);
  // Folders from before JOB_USER was set, or left open by a crash mid-attempt.
  for (const uuid of folders.jobDirs()) closeJobFolder(folders.dir(uuid));
  runtime.jobUser = user;

  // "+path": must be executable (a folder: passable); others readable. The Python interpreter is
  // resolved later: a PYTHON_BIN the job user cannot run fails .py jobs only, with setpriv's error.
  const needed = [
    `+${folders.root}`,
    `+${runtime.command[0]}`,
    runtime.harnessPath,
    runtime.python.harnessPath,
    runtime.builtinProcessDir,
  ];
  const probe = Bun.spawnSync(
    [
      ...user.prefix,
      "/bin/sh",
      "-c",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, not a JS template.
      'for p in "$@"; do case $p in +*) [ -x "${p#+}" ] ;; *) [ -r "$p" ] ;; esac || { echo "${p#+}"; exit 1; }; done',
      "probe",
      ...needed,
    ],
    { stdout: "pipe", stderr: "pipe", env: {} },
  );
  const unreachable = probe.stdout.toString().trim();
  if (probe.exitCode !== 0 || unreachable !== "") {
    const why = unreachable
      ? `cannot reach ${unreachable}: each folder above ${dataDir} must let it through (chmod o+x)`
      : `cannot be switched to: ${probe.stderr.toString().trim()}`;
    throw new ConfigError(`JOB_USER=${user.name} ${why}`);
  }
  if (config.jobSandbox === "bwrap")
    runtime.sandbox = resolveSandbox(user, dataDir, join(dataDir, "runtime"));
}
