// JOB_SANDBOX=bwrap: each job also runs in a bubblewrap sandbox (Debian's bubblewrap, unprivileged
// user namespaces), started by the job user. The job sees the system read-only, /dev, /tmp, the
// runtime read-only and its own folder; nothing else of the data folder exists for it. Its own pid
// namespace hides other jobs' processes (same uid: otherwise it could signal them, or reach their
// folders through /proc/<pid>/cwd). bwrap forks the job but stays in its process group, so the
// daemon's group kill and the harness's kill(0) still take both.
import { tmpdir } from "node:os";
import { ConfigError } from "../config/parse.ts";
import type { JobUser } from "./job-user.ts";

export interface Sandbox {
  bwrap: string;
  dataDir: string;
  runtimeDir: string;
}

/** bwrap's argv around `argv`, for a job whose folder is `jobDir`. */
export function sandboxed(sandbox: Sandbox | null | undefined, jobDir: string, argv: string[]): string[] {
  if (!sandbox) return argv;
  const tmp = tmpdir();
  return [
    sandbox.bwrap,
    "--unshare-pid",
    "--unshare-ipc",
    "--ro-bind",
    "/",
    "/",
    "--dev-bind",
    "/dev",
    "/dev",
    "--proc",
    "/proc",
    "--bind",
    tmp,
    tmp,
    // Mounted in this order: the data folder (even one under /tmp) becomes an empty tmpfs, then
    // only the runtime and this job's folder are put back in it.
    "--tmpfs",
    sandbox.dataDir,
    "--ro-bind",
    sandbox.runtimeDir,
    sandbox.runtimeDir,
    "--bind",
    jobDir,
    jobDir,
    "--chdir",
    jobDir,
    "--",
    ...argv,
  ];
}

/** JOB_SANDBOX resolved at start: bwrap found and able to run as `user` here, or a ConfigError. */
export function resolveSandbox(user: JobUser, dataDir: string, runtimeDir: string): Sandbox {
  const bwrap = Bun.which("bwrap");
  if (!bwrap) throw new ConfigError("JOB_SANDBOX=bwrap needs bubblewrap (apt-get install bubblewrap)");
  const sandbox = { bwrap, dataDir, runtimeDir };
  const probe = Bun.spawnSync([...user.prefix, ...sandboxed(sandbox, runtimeDir, ["/bin/true"])], {
    stdout: "ignore",
    stderr: "pipe",
    env: {},
  });
  if (probe.exitCode !== 0) {
    throw new ConfigError(
      `JOB_SANDBOX=bwrap cannot run here (${probe.stderr.toString().trim()}): unprivileged user namespaces must be allowed (systemd: RestrictNamespaces=)`,
    );
  }
  return sandbox;
}
