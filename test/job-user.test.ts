// JOB_USER: jobs run under their own uid, on a real daemon (loopback) with real child processes.
// What a job tries (all from inside the job, as the job user): read the token, the database, the
// lock; list the data folder and jobs/; read another job's folder; signal the daemon. All refused,
// while its own script, input and outputs work and the job succeeds. Needs root (to switch users).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../src/config/config.ts";
import { ConfigError } from "../src/config/parse.ts";
import { jobUserAtStart } from "../src/daemon/job-isolation.ts";
import { createLogger } from "../src/log/logger.ts";
import { missingCapabilities } from "../src/runner/job-user.ts";
import { FROM_SOURCE, runCli, runProcess } from "./helpers/cli.ts";
import { testClient } from "./helpers/client.ts";
import {
  scriptFile,
  startTestDaemon,
  type TestDaemon,
  TOKEN,
  TOKEN_SHA256,
  tempDir,
} from "./helpers/daemon.ts";
import { freePort } from "./helpers/serve-process.ts";

const USER = "pxs-job-test";
const IS_ROOT = process.getuid?.() === 0;
const SETPRIV = Bun.which("setpriv");
const SYSTEM_PYTHON = ["/usr/bin/python3", "/usr/local/bin/python3"].find((p) => existsSync(p));

if (!IS_ROOT)
  console.log("test/job-user.test.ts: skipped, switching users needs root (run as root, as CI does)");
else if (!SETPRIV) console.log("test/job-user.test.ts: skipped, setpriv (util-linux) is missing");

/** The test user's uid and gid, created (system user, no home) when missing. */
function ensureUser(): { uid: number; gid: number } {
  const lookup = () => Bun.spawnSync(["getent", "passwd", USER], { stdout: "pipe" });
  let found = lookup();
  if (found.exitCode !== 0) {
    const made = Bun.spawnSync(
      ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
      {
        stderr: "pipe",
      },
    );
    if (made.exitCode !== 0) throw new Error(`useradd ${USER} failed: ${made.stderr.toString()}`);
    found = lookup();
  }
  const [, , uid, gid] = found.stdout.toString().trim().split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

// Each probe says "allowed" or the error code it met.
const PROBE_TS = `
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
const attempt = (action) => { try { action(); return "allowed"; } catch (error) { return error.code ?? String(error); } };
export function main(ctx, params) {
  const { data, other, daemonPid } = params;
  const status = readFileSync("/proc/self/status", "utf8");
  const field = (name) => new RegExp("^" + name + ":\\\\s*(.*)$", "m").exec(status)[1].trim();
  writeFileSync(ctx.outputDir("probe.txt"), "written by the job");
  writeFileSync(ctx.outputDir("nested/deep.txt"), "nested");
  return {
    uid: field("Uid"), gid: field("Gid"), groups: field("Groups"), capEff: field("CapEff"), capAmb: field("CapAmb"),
    ownInput: readFileSync(ctx.inputFile(), "utf8"),
    ownScript: attempt(() => readFileSync(import.meta.path)),
    token: attempt(() => readFileSync(join(data, "api-token"))),
    db: attempt(() => readFileSync(join(data, "jobs.sqlite"))),
    wal: attempt(() => readFileSync(join(data, "jobs.sqlite-wal"))),
    lock: attempt(() => readFileSync(join(data, "daemon.lock"))),
    pid: attempt(() => readFileSync(join(data, "daemon.pid"))),
    listData: attempt(() => readdirSync(data)),
    listJobs: attempt(() => readdirSync(join(data, "jobs"))),
    otherFolder: attempt(() => readdirSync(join(data, "jobs", other))),
    otherOutput: attempt(() => readFileSync(join(data, "jobs", other, "outputs", "secret.txt"))),
    otherLog: attempt(() => readFileSync(join(data, "jobs", other, "job.log"))),
    signal: attempt(() => process.kill(daemonPid, 0)),
    home: process.env.HOME, user: process.env.USER,
  };
}
`;

const PROBE_PY = `
import json, os
def attempt(action):
    try:
        action()
        return "allowed"
    except OSError as error:
        return error.__class__.__name__
def main(pc, params):
    data = params["data"]
    with open(pc.get_output_dir("py.txt"), "w") as f:
        f.write("from python")
    return {
        "uid": os.getuid(), "groups": os.getgroups(),
        "token": attempt(lambda: open(os.path.join(data, "api-token")).read()),
        "db": attempt(lambda: open(os.path.join(data, "jobs.sqlite"), "rb").read()),
        "listJobs": attempt(lambda: os.listdir(os.path.join(data, "jobs"))),
        "signal": attempt(lambda: os.kill(params["daemonPid"], 0)),
    }
`;

describe.skipIf(!IS_ROOT || !SETPRIV)("JOB_USER", () => {
  let user: { uid: number; gid: number };
  let daemon: TestDaemon;

  beforeAll(async () => {
    user = ensureUser();
    const dataDir = tempDir();
    // The generated-token path (not GOD_PASSWORD_SHA256), so there is an api-token to try to read.
    writeFileSync(join(dataDir, "api-token"), `${TOKEN}\n`, { mode: 0o600 });
    daemon = await startTestDaemon(
      { JOB_USER: USER, GOD_PASSWORD_SHA256: "", ...(SYSTEM_PYTHON ? { PYTHON_BIN: SYSTEM_PYTHON } : {}) },
      dataDir,
    );
  });
  afterAll(async () => {
    await daemon?.close();
  });

  async function run(
    fields: Record<string, string | File>,
  ): Promise<{ uuid: string; details: Record<string, unknown> }> {
    const res = await daemon.submit(fields);
    expect(res.status).toBe(200);
    const { uuid } = (await res.json()) as { uuid: string };
    const details = await daemon.waitFor(uuid);
    if (details.status !== "SUCCESS") {
      const log = readFileSync(join(daemon.dataDir, "jobs", uuid, "job.log"), "utf8");
      throw new Error(`job ${uuid} ended ${details.status}: ${JSON.stringify(details.error)}\n${log}`);
    }
    return { uuid, details };
  }

  test("a job runs as the job user, reaches only its own folder, cannot signal the daemon", async () => {
    const other = await run({
      process: "custom",
      script: scriptFile(
        `import { writeFileSync } from "node:fs";
export function main(ctx) { writeFileSync(ctx.outputDir("secret.txt"), "other job's secret"); return 1; }`,
      ),
    });
    const { uuid, details } = await run({
      process: "custom",
      script: scriptFile(PROBE_TS, "probe.ts"),
      file: new File(["my input"], "input.txt"),
      params: JSON.stringify({
        data: daemon.dataDir,
        other: other.uuid,
        daemonPid: process.pid,
      }),
    });
    const seen = details.result as Record<string, string> & { uid: string; gid: string; groups: string };
    expect(seen.uid.split(/\s+/)).toEqual(Array(4).fill(String(user.uid)));
    expect(seen.gid.split(/\s+/)).toEqual(Array(4).fill(String(user.gid)));
    expect(seen.groups.split(/\s+/)).not.toContain("0");
    expect(seen.capEff).toMatch(/^0+$/);
    expect(seen.capAmb).toMatch(/^0+$/);
    expect(seen.ownInput).toBe("my input");
    expect(seen.ownScript).toBe("allowed");
    expect(seen.user).toBe(USER);
    for (const key of [
      "token",
      "db",
      "lock",
      "pid",
      "listData",
      "listJobs",
      "otherFolder",
      "otherOutput",
      "otherLog",
    ]) {
      expect(`${key}: ${seen[key]}`).toBe(`${key}: EACCES`);
    }
    // Present once WAL mode wrote anything; refused either way.
    expect(["EACCES", "ENOENT"]).toContain(seen.wal ?? "missing");
    expect(seen.signal).toBe("EPERM");

    // The outputs are the job's, and the daemon still serves and zips them.
    const out = await daemon.api(`/jobs/${uuid}/outputs/probe.txt`);
    expect(out.status).toBe(200);
    expect(await out.text()).toBe("written by the job");
    const list = (await (await daemon.api(`/jobs/${uuid}/outputs`)).json()) as { outputs: string[] };
    expect(list.outputs).toEqual(["nested/deep.txt", "probe.txt"]);
    let zip: Response | null = null;
    for (let i = 0; i < 200 && zip?.status !== 200; i++) {
      if (zip) await Bun.sleep(25);
      zip = await daemon.api(`/jobs/${uuid}/outputs/archive`);
    }
    expect(zip!.status).toBe(200);
    const names = new TextDecoder("latin1").decode(await zip!.arrayBuffer());
    expect(names).toContain("nested/deep.txt");
    expect(names).toContain("probe.txt");
    const folder = join(daemon.dataDir, "jobs", uuid);
    const owner = (path: string) => {
      const s = statSync(path);
      return { uid: s.uid, gid: s.gid, mode: (s.mode & 0o7777).toString(8) };
    };
    expect(owner(join(folder, "outputs", "nested", "deep.txt"))).toMatchObject({ uid: user.uid });
    expect(owner(join(folder, "outputs"))).toMatchObject({ uid: user.uid, gid: user.gid });
  });

  test("the data folder: token, database, lock closed; job folders closed once their attempt ended", async () => {
    const data = daemon.dataDir;
    const owner = (path: string) => {
      const s = statSync(path);
      return { uid: s.uid, mode: (s.mode & 0o7777).toString(8) };
    };
    expect(owner(data)).toEqual({ uid: 0, mode: "711" });
    expect(owner(join(data, "jobs"))).toEqual({ uid: 0, mode: "711" });
    expect(owner(join(data, "jobs", ".staging"))).toEqual({ uid: 0, mode: "700" });
    for (const name of [
      "api-token",
      "jobs.sqlite",
      "jobs.sqlite-wal",
      "jobs.sqlite-shm",
      "daemon.lock",
      "daemon.pid",
    ]) {
      if (existsSync(join(data, name)))
        expect(`${name} ${JSON.stringify(owner(join(data, name)))}`).toBe(`${name} {"uid":0,"mode":"600"}`);
    }
    expect(owner(join(data, "runtime"))).toEqual({ uid: 0, mode: "755" });
    const { uuid } = await run({
      process: "custom",
      script: scriptFile("export function main() { return 2; }"),
    });
    const folder = statSync(join(data, "jobs", uuid));
    expect({ uid: folder.uid, gid: folder.gid, mode: (folder.mode & 0o777).toString(8) }).toEqual({
      uid: 0,
      gid: user.gid,
      mode: "700",
    });
    // The daemon's own files in it stay the daemon's: the job cannot replace them.
    expect(statSync(join(data, "jobs", uuid, "job.log")).uid).toBe(0);
  });

  test.skipIf(!SYSTEM_PYTHON)("a Python job (started cold) runs as the job user too", async () => {
    const { uuid, details } = await run({
      process: "custom",
      script: new File([PROBE_PY], "probe.py"),
      params: JSON.stringify({ data: daemon.dataDir, daemonPid: process.pid }),
    });
    const seen = details.result as Record<string, unknown>;
    expect(seen.uid).toBe(user.uid);
    expect(seen.groups).not.toContain(0);
    expect(seen).toMatchObject({
      token: "PermissionError",
      db: "PermissionError",
      listJobs: "PermissionError",
      signal: "PermissionError",
    });
    expect(await (await daemon.api(`/jobs/${uuid}/outputs/py.txt`)).text()).toBe("from python");
  });

  test("a child job (the parent's script and input, hard-linked) reads them and writes as the job user", async () => {
    const { details } = await run({
      process: "custom",
      file: new File(["shared input"], "input.txt"),
      script: scriptFile(`import { readFileSync, writeFileSync } from "node:fs";
export async function main(ctx) {
  const child = await ctx.spawn({ entrypoint: "child" });
  return { child: await child.result(), uid: process.getuid() };
}
export function child(ctx) {
  writeFileSync(ctx.outputDir("child.txt"), "child");
  return { input: readFileSync(ctx.inputFile(), "utf8"), uid: process.getuid() };
}`),
    });
    expect(details.result).toEqual({ child: { input: "shared input", uid: user.uid }, uid: user.uid });
  });

  test("an unknown JOB_USER, or JOB_GROUP alone, refuses the start with a clear message", async () => {
    const refused = async (env: Record<string, string>) => {
      const dataDir = tempDir();
      const error = await startTestDaemon(env, dataDir).then(
        () => null,
        (e: Error) => e,
      );
      rmSync(dataDir, { recursive: true, force: true });
      expect(error).toBeInstanceOf(ConfigError);
      return error!.message;
    };
    expect(await refused({ JOB_USER: "pxs-no-such-user" })).toContain("no user 'pxs-no-such-user'");
    expect(await refused({ JOB_GROUP: "nogroup" })).toContain("JOB_GROUP is set without JOB_USER");
    expect(await refused({ JOB_USER: "root" })).toContain("must not run as root");
  });

  test("a daemon that cannot switch users refuses JOB_USER (serve exits 2)", async () => {
    // `serve` as nobody, without capabilities: its data folder is its own, JOB_USER is not.
    const dataDir = tempDir();
    chownSync(dataDir, 65534, 65534);
    const result = await runProcess(
      [
        SETPRIV!,
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
        ...FROM_SOURCE,
        "serve",
        "--port",
        "0",
      ],
      {
        env: {
          PATH: process.env.PATH,
          HOME: dataDir,
          DATA_DIR: dataDir,
          JOB_USER: USER,
          API_HOST: "127.0.0.1",
        },
      },
    );
    rmSync(dataDir, { recursive: true, force: true });
    expect(result.stderr).toContain(`JOB_USER=${USER} needs a daemon that can switch users`);
    expect(result.stderr).toContain("CAP_SETUID");
    expect(result.code).toBe(2);
  });
});

describe.skipIf(!IS_ROOT || !SETPRIV)("JOB_USER with a non-root daemon", () => {
  // The systemd unit's setup: the daemon is an ordinary user holding these ambient capabilities.
  const CAPS = "+chown,+dac_override,+kill,+setgid,+setuid";

  test("it runs jobs as the job user, and the job gets none of its capabilities", async () => {
    const user = ensureUser();
    const dataDir = tempDir();
    const logDir = tempDir("pxs-log-");
    chownSync(dataDir, 65534, 65534);
    const port = freePort();
    const logFile = join(logDir, "serve.log");
    const proc = Bun.spawn(
      [
        SETPRIV!,
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        `--inh-caps=${CAPS}`,
        `--ambient-caps=${CAPS}`,
        "--",
        ...FROM_SOURCE,
        "serve",
        "--port",
        String(port),
      ],
      {
        env: {
          PATH: process.env.PATH,
          HOME: dataDir,
          DATA_DIR: dataDir,
          JOB_USER: USER,
          API_HOST: "127.0.0.1",
          GOD_PASSWORD_SHA256: TOKEN_SHA256,
          SLOTS: "cpu:1",
        },
        stdio: ["ignore", Bun.file(logFile), Bun.file(logFile)],
      },
    );
    const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
    try {
      const client = testClient(`http://127.0.0.1:${port}`, 20000, () => `\n${log()}`);
      for (let i = 0; ; i++) {
        if (
          await fetch(`http://127.0.0.1:${port}/health`).then(
            (r) => r.ok,
            () => false,
          )
        )
          break;
        if (i > 300 || proc.exitCode !== null) throw new Error(`the daemon did not start:\n${log()}`);
        await Bun.sleep(50);
      }
      const res = await client.submit({
        process: "custom",
        script: scriptFile(`import { readFileSync, writeFileSync } from "node:fs";
export function main(ctx) {
  writeFileSync(ctx.outputDir("out.txt"), "ok");
  const status = readFileSync("/proc/self/status", "utf8");
  return Object.fromEntries(status.split("\\n").filter((l) => /^(Uid|Cap(Eff|Prm|Amb|Inh))/.test(l)).map((l) => l.split(/:\\s*/)));
}`),
      });
      const { uuid } = (await res.json()) as { uuid: string };
      const details = await client.waitFor(uuid);
      expect(details.status).toBe("SUCCESS");
      const seen = details.result as Record<string, string>;
      expect(seen.Uid!.split(/\s+/)).toEqual(Array(4).fill(String(user.uid)));
      for (const set of ["CapEff", "CapPrm", "CapAmb", "CapInh"])
        expect(`${set} ${seen[set]}`).toBe(`${set} 0000000000000000`);
      expect(await (await client.api(`/jobs/${uuid}/outputs/out.txt`)).text()).toBe("ok");
      expect(statSync(join(dataDir, "jobs.sqlite")).uid).toBe(65534);
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(logDir, { recursive: true, force: true });
    }
  });
});

/** Why bwrap cannot run here as the test user (unprivileged user namespaces), or null. */
function bwrapProblem(): string | null {
  if (!IS_ROOT || !SETPRIV) return "needs root";
  const bwrap = Bun.which("bwrap");
  if (!bwrap) return "bwrap is missing (apt-get install bubblewrap; .ci/run does this)";
  const { uid, gid } = ensureUser();
  const probe = Bun.spawnSync(
    [
      SETPRIV,
      `--reuid=${uid}`,
      `--regid=${gid}`,
      "--clear-groups",
      "--",
      bwrap,
      "--ro-bind",
      "/",
      "/",
      "true",
    ],
    { stderr: "pipe" },
  );
  return probe.exitCode === 0 ? null : `bwrap cannot run here: ${probe.stderr.toString().trim()}`;
}
const BWRAP_PROBLEM = bwrapProblem();
if (IS_ROOT && BWRAP_PROBLEM)
  console.log(`test/job-user.test.ts: JOB_SANDBOX=bwrap skipped, ${BWRAP_PROBLEM}`);

describe.skipIf(BWRAP_PROBLEM !== null)("JOB_SANDBOX=bwrap", () => {
  test("the job sees its own folder and the runtime, nothing else of the data folder nor other jobs' processes", async () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, "api-token"), `${TOKEN}\n`, { mode: 0o600 });
    const d = await startTestDaemon(
      { JOB_USER: USER, JOB_SANDBOX: "bwrap", GOD_PASSWORD_SHA256: "" },
      dataDir,
    );
    try {
      const submit = async (source: string, params: unknown = {}) => {
        const res = await d.submit({
          process: "custom",
          script: scriptFile(source),
          params: JSON.stringify(params),
        });
        const { uuid } = (await res.json()) as { uuid: string };
        const details = await d.waitFor(uuid);
        expect(`${details.status} ${JSON.stringify(details.error)}`).toBe("SUCCESS null");
        return { uuid, result: details.result as Record<string, unknown> };
      };
      const other = await submit(`import { writeFileSync } from "node:fs";
export function main(ctx) { writeFileSync(ctx.outputDir("secret.txt"), "secret"); }`);
      const { uuid, result } = await submit(
        `import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
const attempt = (action) => { try { return action(); } catch (error) { return error.code; } };
export function main(ctx, { data, other, daemonPid }) {
  writeFileSync(ctx.outputDir("mine.txt"), "mine");
  return {
    data: attempt(() => readdirSync(data).sort()),
    jobs: attempt(() => readdirSync(join(data, "jobs"))),
    token: attempt(() => readFileSync(join(data, "api-token"))),
    db: attempt(() => readFileSync(join(data, "jobs.sqlite"))),
    other: attempt(() => readdirSync(join(data, "jobs", other))),
    signal: attempt(() => process.kill(daemonPid, 0)),
    harness: attempt(() => readdirSync(join(data, "runtime")).some((f) => f.startsWith("harness-"))),
  };
}`,
        { data: dataDir, other: other.uuid, daemonPid: process.pid },
      );
      expect(result).toEqual({
        data: ["jobs", "runtime"],
        jobs: [uuid],
        token: "ENOENT",
        db: "ENOENT",
        other: "ENOENT",
        signal: "ESRCH",
        harness: true,
      });
      expect(await (await d.api(`/jobs/${uuid}/outputs/mine.txt`)).text()).toBe("mine");
    } finally {
      await d.close();
    }
  });

  test("the memory watch sees a sandboxed job's processes through bwrap's pid namespace: measured, and killed over the limit", async () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, "api-token"), `${TOKEN}\n`, { mode: 0o600 });
    const d = await startTestDaemon(
      { JOB_USER: USER, JOB_SANDBOX: "bwrap", GOD_PASSWORD_SHA256: "", MAX_MEMORY_USAGE: String(200 * 1024) },
      dataDir,
    );
    try {
      // The memory is held by a grandchild inside the sandbox, for a second (several samples).
      const hog = (mb: number) => `export async function main() {
  const child = Bun.spawn(["python3", "-c", "import time; b = b'x' * (${mb} << 20); time.sleep(1.5)"]);
  await child.exited;
  return child.exitCode;
}`;
      const run = async (mb: number) => {
        const res = await d.submit({ process: "custom", script: scriptFile(hog(mb)), config: '{"retry":0}' });
        const { uuid } = (await res.json()) as { uuid: string };
        return (await d.waitFor(uuid, undefined, 30000)) as unknown as {
          status: string;
          attempts: { cause: string; peak_rss_kb: number | null }[];
        };
      };
      const small = await run(64);
      expect(small.status).toBe("SUCCESS");
      expect(small.attempts[0]!.peak_rss_kb!).toBeGreaterThan(64 * 1024);
      const big = await run(400);
      expect(big.status).toBe("FAILURE");
      expect(big.attempts.map((a) => a.cause)).toContain("memory");
    } finally {
      await d.close();
    }
  }, 60000);
});

describe.skipIf(!IS_ROOT)("a root daemon without JOB_USER", () => {
  test("warns at start and in doctor, with what to set", async () => {
    const lines: string[] = [];
    const logger = createLogger("info", "text", (line) => lines.push(line));
    expect(jobUserAtStart(loadConfig({ env: {} }), logger)).toBeNull();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("WARN");
    expect(lines[0]).toContain("set JOB_USER");
    const dataDir = tempDir();
    const doctor = await runCli(["doctor", "--json", "--data-dir", dataDir], {
      env: { PATH: process.env.PATH, HOME: dataDir, SLOTS: "cpu:1", API_PORT: "1" },
    });
    rmSync(dataDir, { recursive: true, force: true });
    const { checks } = JSON.parse(doctor.stdout) as {
      checks: { level: string; name: string; fix?: string }[];
    };
    expect(checks.find((c) => c.name === "job user")).toMatchObject({
      level: "warn",
      fix: expect.stringContaining("JOB_USER="),
    });
  });
});

describe("the privilege check", () => {
  test("reads the effective capabilities: root's full set passes, none lists all five", () => {
    expect(missingCapabilities("Name:\tx\nCapEff:\t000001ffffffffff\n")).toEqual([]);
    expect(missingCapabilities("CapEff:\t0000000000000000\n")).toEqual([
      "CAP_CHOWN",
      "CAP_DAC_OVERRIDE",
      "CAP_KILL",
      "CAP_SETGID",
      "CAP_SETUID",
    ]);
    // CAP_SETUID and CAP_SETGID alone: the others are still missing.
    expect(missingCapabilities("CapEff:\t00000000000000c0\n")).toEqual([
      "CAP_CHOWN",
      "CAP_DAC_OVERRIDE",
      "CAP_KILL",
    ]);
  });
});
