// Jobs under their own user (JOB_USER, JOB_GROUP): resolved once at start, then every job process
// (cold or warm, TS or Python) is started through util-linux's setpriv, which switches uid, gid and
// groups and then execs the job in place: the pid stays the same, so the job is still the leader
// of the process group the daemon kills. Bun.spawn's own uid/gid options cannot set the user's
// groups nor drop the capabilities a non-root daemon holds (they would pass on to the job).
import { readFileSync } from "node:fs";
import { ConfigError } from "../config/parse.ts";

export interface JobUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** argv prefix that runs a command as this user (setpriv, its absolute path resolved at start). */
  prefix: string[];
}

/**
 * What a daemon needs to run jobs as another user: switch uid/gid, signal the jobs' processes,
 * give a job its outputs folder, and read and remove the files a job made (modes the job chose).
 * Root has them all; a non-root daemon gets them as ambient capabilities (systemd/README.md).
 */
const NEEDED_CAPABILITIES: Record<string, number> = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
};

/** The capabilities above that this process lacks (its effective set, /proc/self/status). */
export function missingCapabilities(status = readFileSync("/proc/self/status", "utf8")): string[] {
  const hex = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status)?.[1] ?? "0";
  const effective = BigInt(`0x${hex}`);
  return Object.entries(NEEDED_CAPABILITIES)
    .filter(([, bit]) => ((effective >> BigInt(bit)) & 1n) === 0n)
    .map(([name]) => name);
}

/** One entry of the passwd or group database (NSS: /etc/passwd, LDAP, ...), split on ':'. */
function getent(database: "passwd" | "group", key: string): string[] | null {
  const getentPath = Bun.which("getent");
  if (!getentPath) throw new ConfigError("JOB_USER needs getent (Debian's libc-bin) to look the user up");
  const result = Bun.spawnSync([getentPath, database, key], { stdout: "pipe", stderr: "ignore" });
  if (result.exitCode !== 0) return null;
  return result.stdout.toString().split("\n")[0]!.split(":");
}

/**
 * Resolves JOB_USER (and JOB_GROUP, else the user's own group) and checks this daemon can start
 * processes as them; null when JOB_USER is unset. Throws a ConfigError that says what to change.
 */
export function resolveJobUser(user: string | null, group: string | null): JobUser | null {
  if (!user) {
    if (group) throw new ConfigError("JOB_GROUP is set without JOB_USER: set both, or neither");
    return null;
  }
  const entry = getent("passwd", user);
  if (!entry || entry.length < 6) {
    throw new ConfigError(
      `invalid JOB_USER: no user '${user}' on this machine (create one: useradd --system --no-create-home --shell /usr/sbin/nologin ${user})`,
    );
  }
  const [name, , uidText, gidText, , home] = entry as [string, string, string, string, string, string];
  let gid = Number(gidText);
  if (group) {
    const groupEntry = getent("group", group);
    if (!groupEntry || groupEntry.length < 3)
      throw new ConfigError(`invalid JOB_GROUP: no group '${group}' on this machine`);
    gid = Number(groupEntry[2]);
  }
  const uid = Number(uidText);
  if (uid === 0 || gid === 0)
    throw new ConfigError(`invalid JOB_USER: jobs must not run as root (user '${name}')`);
  if (uid === process.getuid?.()) {
    throw new ConfigError(
      `invalid JOB_USER: '${name}' is the daemon's own user; jobs need a user of their own`,
    );
  }
  const missing = missingCapabilities();
  if (missing.length > 0) {
    throw new ConfigError(
      `JOB_USER=${name} needs a daemon that can switch users: run it as root, or give it ${missing.join(" ")} (systemd: AmbientCapabilities=, see systemd/README.md)`,
    );
  }
  const setpriv = Bun.which("setpriv");
  if (!setpriv) throw new ConfigError("JOB_USER needs setpriv (Debian's util-linux) on the daemon's PATH");
  return {
    name,
    uid,
    gid,
    home,
    // --init-groups: the user's own supplementary groups (GPU device groups), none of the daemon's.
    // --inh-caps=-all also clears the ambient set: a non-root daemon's capabilities stop here.
    // --no-new-privs: no setuid program or file capability raises a job's privileges again.
    prefix: [
      setpriv,
      `--reuid=${uid}`,
      `--regid=${gid}`,
      "--init-groups",
      "--inh-caps=-all",
      "--no-new-privs",
      "--",
    ],
  };
}

/** argv and environment of a job process: as the job user when there is one, else unchanged. */
export function asJobUser(
  user: JobUser | null | undefined,
  argv: string[],
  env: Record<string, string>,
): { argv: string[]; env: Record<string, string> } {
  if (!user) return { argv, env };
  // The daemon's HOME (/root, ...) is not the job's: tools that look there would fail or leak.
  return {
    argv: [...user.prefix, ...argv],
    env: { ...env, HOME: user.home, USER: user.name, LOGNAME: user.name },
  };
}
