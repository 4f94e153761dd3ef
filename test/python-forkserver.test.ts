// Python jobs forked from the warm fork server (src/runner/fork-server.ts, src/sdk/python/forkserver.py):
// each job still runs in its own process (own pid, session and process group), with the job's
// environment, and is limited, cancelled and killed as a cold one; the server's death loses no
// job, and the daemon's death leaves nothing behind. Real daemons, real python3.
import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { listProcesses, readStat } from "../src/runner/process-tree.ts";
import { FROM_SOURCE } from "./helpers/cli.ts";
import { startTestDaemon, type TestDaemon, tempDir } from "./helpers/daemon.ts";
import { eventually, isGone, liveGroupMembers } from "./helpers/procs.ts";
import { type ServeProcess, startServeProcess } from "./helpers/serve-process.ts";

setDefaultTimeout(60_000);
const ROOT = join(import.meta.dir, "..");

let daemon: TestDaemon | null = null;
const processes: ServeProcess[] = [];
afterEach(async () => {
  await daemon?.close();
  daemon = null;
  for (const p of processes.splice(0)) p.proc.kill("SIGKILL");
});
/** Groups of jobs started on purpose to outlive something: killed at the end whatever happens. */
const groupsToSweep: number[] = [];
afterAll(() => {
  for (const pgid of groupsToSweep) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // gone
    }
  }
});

const pyFile = (source: string, name = "job.py") => new File([source], name, { type: "text/x-python" });
type Details = Record<string, unknown> & {
  status: string;
  error: string | null;
  result: unknown;
  attempts: { cause: string | null; signal: string | null }[];
};

async function submit(d: Pick<TestDaemon, "submit">, source: string, fields: Record<string, string> = {}) {
  const res = await d.submit({ script: pyFile(source), ...fields });
  const body = (await res.json()) as { uuid?: string };
  expect({ status: res.status, body }).toMatchObject({ status: 200 });
  return body.uuid!;
}

/**
 * The fork servers of the daemon whose data folder is `dataDir`: processes with its node marker
 * running forkserver.py whose parent is not one (a forked job shows the server's command line).
 */
function forkServersOf(dataDir: string): number[] {
  const marker = `PIXYZ_NODE=${readFileSync(join(dataDir, "node-id"), "utf8").trim()}`;
  const running = listProcesses()
    .filter((p) => p.state !== "Z")
    .filter((p) => {
      try {
        const cmdline = readFileSync(`/proc/${p.pid}/cmdline`, "utf8");
        const env = readFileSync(`/proc/${p.pid}/environ`, "latin1").split("\0");
        return cmdline.includes("forkserver.py") && env.includes(marker);
      } catch {
        return false;
      }
    })
    .map((p) => p.pid);
  return running.filter((pid) => !running.includes(statField(pid, 1)));
}

/** Field `index` after the command name of /proc/<pid>/stat (1: the parent pid, 3: the session); 0 when gone. */
function statField(pid: number, index: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[index]);
  } catch {
    return 0;
  }
}

/** A job that writes its pids to outputs/pids.json, starts a `sleep` in its group, then sleeps. */
/** Live children of fork server `server` (its spare, and the jobs it forked that still run). */
function childrenOfServer(server: number): number[] {
  return listProcesses()
    .filter((p) => p.state !== "Z" && statField(p.pid, 1) === server)
    .map((p) => p.pid);
}

/** Runs `job` (which returns [pid, ppid, ...]) once; the fork server's pid and the spare it made after. */
async function serverAndItsSpare(d: TestDaemon, job: string): Promise<{ server: number; spare: number }> {
  const first = ((await d.waitFor(await submit(d, job))) as Details).result as number[];
  const server = first[1]!;
  // After a job's end the server forks a spare: its only child now.
  expect(await eventually(() => childrenOfServer(server).length === 1, 5000)).toBe(true);
  return { server, spare: childrenOfServer(server)[0]! };
}

const PIDS_THEN_SLEEP = `import json, os, subprocess, time

def main(pc, params):
    child = subprocess.Popen(["sleep", "300"])
    with open(pc.get_output_dir("pids.json"), "w") as f:
        json.dump({"script": os.getpid(), "parent": os.getppid(), "grandchild": child.pid}, f)
    time.sleep(300)
`;

async function pidsOf(dataDir: string, uuid: string) {
  const file = join(dataDir, "jobs", uuid, "outputs", "pids.json");
  expect(await eventually(() => existsSync(file) && readFileSync(file, "utf8").length > 0, 15000)).toBe(true);
  const pids = JSON.parse(readFileSync(file, "utf8")) as {
    script: number;
    parent: number;
    grandchild: number;
  };
  groupsToSweep.push(pids.script);
  return pids;
}

describe("Python jobs from the fork server", () => {
  test("a job succeeds with its result, progress and log, in its own process, session and group", async () => {
    daemon = await startTestDaemon();
    const source = `from pixyz_worker.script import *
import os, sys

def main(pc, params):
    pc.progress_set_total(2)
    pc.progress_next("one")
    print("hello from the job")
    sys.stderr.write("and its stderr\\n")
    pc.progress_next("two")
    return {"pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0), "sid": os.getsid(0),
            "cwd": os.getcwd(), "job": os.environ.get("PIXYZ_JOB_ID"), "echo": params,
            "queue": os.environ.get("PIXYZ_QUEUE"), "slot": os.environ.get("PIXYZ_SLOT"),
            "path": os.environ.get("PYTHONPATH", "").split(":")[0],
            "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd"))}
`;
    const uuid = await submit(daemon, source, { params: '{"a": 1}' });
    const d = (await daemon.waitFor(uuid)) as Details;
    expect(d.error).toBeNull();
    expect(d.status).toBe("SUCCESS");
    expect((d.steps as { info: string }[]).map((s) => s.info)).toEqual(["one", "two"]);
    const r = d.result as Record<string, unknown>;
    const servers = forkServersOf(daemon.dataDir);
    expect(servers).toHaveLength(1);
    // Forked by the server (its parent), yet a process of its own: its own pid, session and group.
    expect(r.ppid).toBe(servers[0]);
    expect(r.pid).not.toBe(servers[0]);
    expect(r.pgid).toBe(r.pid);
    expect(r.sid).toBe(r.pid);
    expect(readStat(servers[0]!)!.pgrp).not.toBe(r.pgid);
    expect(r.cwd).toBe(join(daemon.dataDir, "jobs", uuid));
    expect(r.job).toBe(uuid);
    expect(r.queue).toBe("cpu");
    expect(r.slot).toMatch(/^cpu-/);
    expect(r.path).toBe(join(daemon.dataDir, "runtime", "python"));
    expect(r.echo).toEqual({ a: 1 });
    // stdin, stdout, stderr, the channel and the listing's own fd: nothing of the server leaks in.
    expect((r.fds as number[]).filter((fd) => fd <= 3)).toEqual([0, 1, 2, 3]);
    expect((r.fds as number[]).length).toBeLessThanOrEqual(5);
    const attempt = daemon.store.attemptsOf(daemon.store.get(uuid)!.id)[0]!;
    expect(attempt.pgid).toBe(r.pid as number);
    const log = await (await daemon.api(`/jobs/${uuid}/logs`)).text();
    expect(log).toContain("hello from the job");
    expect(log).toContain("and its stderr");
    expect(log).toMatch(/attempt 1 ended: success/);
    // The server is the same for the next job.
    const next = await submit(daemon, source);
    const n = (await daemon.waitFor(next)) as Details;
    expect((n.result as { ppid: number }).ppid).toBe(servers[0]!);
  });

  test("a large result written just before the exit arrives whole (the socket is read to its end)", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1" });
    // Several socket buffers' worth: the job's exit reaches the daemon while its last bytes still
    // wait in the socket; ending the socket at the exit would drop them.
    const source = "def main(pc, params):\n    return 'x' * (8 * 1024 * 1024)\n";
    for (let i = 0; i < 3; i++) {
      const d = (await daemon.waitFor(await submit(daemon, source))) as Details;
      expect(d.error).toBeNull();
      expect((d.result as string).length).toBe(8 * 1024 * 1024);
    }
  });

  test("the channel's reader thread starts with a job's first request, and reads its reply", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1" });
    // A forked job that asks nothing runs without the thread (the server, not the thread, kills
    // it if the daemon dies); one that asks gets its reply through the thread its request started.
    const source = `import threading
from pixyz_worker import _backend

def main(pc, params):
    before = threading.active_count()
    try:
        answer = _backend.get_backend().wait(["00000000-0000-4000-8000-000000000000"], timeout=0)
    except _backend.ChannelError as error:
        answer = "refused: %s" % error
    return {"before": before, "after": threading.active_count(), "answered": answer is not None}
`;
    const d = (await daemon.waitFor(await submit(daemon, source))) as Details;
    expect(d.error).toBeNull();
    expect(d.result).toEqual({ before: 1, after: 2, answered: true });
  });

  test("job A's environment, random state and module changes do not reach job B", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1" });
    const source = `import os, random, sys
import pixyz_worker

def main(pc, params):
    seen = {"var": os.environ.get("LEAK_ME"), "attr": getattr(pixyz_worker, "leaked", None),
            "mod": "leaky_module" in sys.modules, "rand": random.random()}
    os.environ["LEAK_ME"] = "from " + pc["task_id"]
    pixyz_worker.leaked = True
    sys.modules["leaky_module"] = sys
    return seen
`;
    const a = (await daemon.waitFor(await submit(daemon, source))) as Details;
    const b = (await daemon.waitFor(await submit(daemon, source))) as Details;
    for (const d of [a, b]) {
      expect(d.status).toBe("SUCCESS");
      expect(d.result).toMatchObject({ var: null, attr: null, mod: false });
    }
    expect((a.result as { rand: number }).rand).not.toBe((b.result as { rand: number }).rand);
  });

  test("a job past its time limit is killed with its subprocess, and the next job runs", async () => {
    daemon = await startTestDaemon({ MAX_RETRIES: "0" });
    const uuid = await submit(daemon, PIDS_THEN_SLEEP, { config: JSON.stringify({ time_limit: 2 }) });
    const pids = await pidsOf(daemon.dataDir, uuid);
    expect(forkServersOf(daemon.dataDir)).toEqual([pids.parent]);
    const d = (await daemon.waitFor(uuid, undefined, 20000)) as Details;
    expect(d.status).toBe("FAILURE");
    expect(d.attempts[0]!.cause).toBe("timeout");
    expect(await eventually(() => isGone(pids.script) && isGone(pids.grandchild), 5000)).toBe(true);
    expect(liveGroupMembers(pids.script)).toEqual([]);
    const next = (await daemon.waitFor(
      await submit(daemon, "def main(pc, params):\n    return 42\n"),
    )) as Details;
    expect(next.status).toBe("SUCCESS");
    expect(next.result).toBe(42);
  });

  test("a job over its memory limit is killed for memory", async () => {
    daemon = await startTestDaemon({ MAX_RETRIES: "0", MAX_MEMORY_USAGE: "150000" });
    const source = `import time

def main(pc, params):
    hog = b"x" * (400 * 1024 * 1024)
    time.sleep(30)
    return len(hog)
`;
    const d = (await daemon.waitFor(await submit(daemon, source), undefined, 30000)) as Details;
    expect(d.status).toBe("FAILURE");
    expect(d.attempts[0]!.cause).toBe("memory");
    expect(d.error).toMatch(/Memory limit exceeded/);
  });

  test("cancel kills a running job's group; the next job runs", async () => {
    daemon = await startTestDaemon();
    const uuid = await submit(daemon, PIDS_THEN_SLEEP);
    const pids = await pidsOf(daemon.dataDir, uuid);
    expect((await daemon.api(`/jobs/${uuid}`, { method: "DELETE" })).status).toBe(200);
    const d = (await daemon.waitFor(uuid)) as Details;
    expect(d.status).toBe("REVOKED");
    expect(await eventually(() => isGone(pids.script) && isGone(pids.grandchild), 5000)).toBe(true);
    const next = (await daemon.waitFor(
      await submit(daemon, "def main(pc, params):\n    return 'ok'\n"),
    )) as Details;
    expect(next.result).toBe("ok");
  });

  test("SIGKILL of the fork server mid-run: the running job fails (killed) and the next job runs", async () => {
    daemon = await startTestDaemon({ MAX_RETRIES: "0" });
    const uuid = await submit(daemon, PIDS_THEN_SLEEP);
    const pids = await pidsOf(daemon.dataDir, uuid);
    process.kill(pids.parent, "SIGKILL");
    const d = (await daemon.waitFor(uuid, undefined, 15000)) as Details;
    expect(d.status).toBe("FAILURE");
    expect(d.attempts[0]).toMatchObject({ cause: "signal", signal: "SIGKILL" });
    expect(await eventually(() => isGone(pids.script) && isGone(pids.grandchild), 5000)).toBe(true);
    const log = await (await daemon.api(`/jobs/${uuid}/logs`)).text();
    expect(log).toContain("the Python fork server died while the job ran");
    const next = (await daemon.waitFor(
      await submit(daemon, "import os\n\ndef main(pc, params):\n    return os.getppid()\n"),
    )) as Details;
    expect(next.status).toBe("SUCCESS");
    // A new server forked it.
    expect(forkServersOf(daemon.dataDir)).toEqual([next.result as number]);
    expect(next.result).not.toBe(pids.parent);
  });

  test("the server is retired after WARM_IDLE without Python jobs, and started again by the next one", async () => {
    daemon = await startTestDaemon({ WARM_IDLE: "1" });
    const job = "import os\n\ndef main(pc, params):\n    return os.getppid()\n";
    const first = (await daemon.waitFor(await submit(daemon, job))) as Details;
    const server = first.result as number;
    expect(forkServersOf(daemon.dataDir)).toEqual([server]);
    expect(await eventually(() => isGone(server), 5000)).toBe(true);
    expect(existsSync(join(daemon.dataDir, "runtime", "python-fork.sock"))).toBe(false);
    const second = (await daemon.waitFor(await submit(daemon, job))) as Details;
    expect(second.status).toBe("SUCCESS");
    expect(second.result).not.toBe(server);
  });

  test("a spare child waits ahead in its own session, off the control pipes; the next job runs in it; one killed while it waits costs no job; it goes with the server", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1", WARM_IDLE: "2" });
    const job = "import os\n\ndef main(pc, params):\n    return [os.getpid(), os.getppid()]\n";
    const { server, spare } = await serverAndItsSpare(daemon, job);
    expect(statField(spare, 3)).toBe(spare); // leads its own session (and group) already
    for (const fd of [0, 1]) expect(readlinkSync(`/proc/${spare}/fd/${fd}`)).toBe("/dev/null");
    const second = ((await daemon.waitFor(await submit(daemon, job))) as Details).result as number[];
    expect(second).toEqual([spare, server]); // the job ran in the spare
    // A spare killed while it waits: the next job is forked for it, and a spare follows its end.
    expect(await eventually(() => childrenOfServer(server).length === 1, 5000)).toBe(true);
    const killed = childrenOfServer(server)[0]!;
    process.kill(killed, "SIGKILL");
    expect(await eventually(() => !childrenOfServer(server).includes(killed), 5000)).toBe(true);
    const third = (await daemon.waitFor(await submit(daemon, job))) as Details;
    expect(third.status).toBe("SUCCESS");
    expect((third.result as number[])[0]).not.toBe(killed);
    expect(await eventually(() => childrenOfServer(server).length === 1, 5000)).toBe(true);
    const last = childrenOfServer(server)[0]!;
    // Retired after WARM_IDLE: the server and its spare are gone.
    expect(await eventually(() => isGone(server) && isGone(last), 8000)).toBe(true);
  });

  test("an order too large to hand to the spare (its environment past the socket's message limit) is forked for itself, whole", async () => {
    // A job's variables ride in its order. Variables of 100 KB pass exec's limits (128 KiB a
    // string); enough of them pass the largest message the spare's socket takes (its send buffer,
    // net.core.wmem_default: 208 KiB on most hosts): EMSGSIZE.
    const sendBuffer = Number(readFileSync("/proc/sys/net/core/wmem_default", "utf8"));
    const big = ["USER", "LOGNAME", "SHELL", "TZ", "LC_ALL"].slice(0, Math.ceil((sendBuffer + 1) / 100_000));
    const saved = big.map((key) => process.env[key]);
    for (const key of big) process.env[key] = key[0]!.repeat(100_000);
    try {
      daemon = await startTestDaemon({ SLOTS: "cpu:1" });
      const job =
        "import os\n\ndef main(pc, params):\n" +
        '    return [os.getpid(), os.getppid(), len(os.environ["USER"]), len(os.environ["SHELL"])]\n';
      const { server, spare } = await serverAndItsSpare(daemon, job);
      const second = (await daemon.waitFor(await submit(daemon, job))) as Details;
      expect(second.status).toBe("SUCCESS");
      const [pid, parent, user, shell] = second.result as number[];
      expect([parent, user, shell]).toEqual([server, 100_000, 100_000]);
      expect(pid).not.toBe(spare); // the spare could not take it: killed, and a child forked
      expect(await eventually(() => isGone(spare), 5000)).toBe(true);
    } finally {
      big.forEach((key, i) => {
        if (saved[i] === undefined) delete process.env[key];
        else process.env[key] = saved[i];
      });
    }
  });

  test("WARM_CHILDREN=false: Python jobs start cold, as children of the daemon", async () => {
    daemon = await startTestDaemon({ WARM_CHILDREN: "false" });
    const d = (await daemon.waitFor(
      await submit(daemon, "import os\n\ndef main(pc, params):\n    return os.getppid()\n"),
    )) as Details;
    expect(d.result).toBe(process.pid);
    expect(forkServersOf(daemon.dataDir)).toEqual([]);
  });
});

describe("the fork server never outlives its daemon", () => {
  test("kill -9 of the daemon: the server, its job and the job's subprocess are gone within a second", async () => {
    const dataDir = tempDir();
    const serve = await startServeProcess(FROM_SOURCE, { dataDir, cwd: ROOT, env: { SLOTS: "cpu:1" } });
    processes.push(serve);
    const uuid = await submit(serve, PIDS_THEN_SLEEP);
    const pids = await pidsOf(dataDir, uuid);
    expect(forkServersOf(dataDir)).toEqual([pids.parent]);
    expect(statField(pids.script, 3)).toBe(pids.script); // its own session
    // Every child of the server: the job, and a spare if one waits.
    const serverChildren = listProcesses()
      .filter((p) => statField(p.pid, 1) === pids.parent)
      .map((p) => p.pid);
    serve.proc.kill("SIGKILL");
    await serve.proc.exited;
    const killedAt = Date.now();
    const gone = () =>
      isGone(pids.parent) && isGone(pids.script) && isGone(pids.grandchild) && serverChildren.every(isGone);
    expect(await eventually(gone, 3000, 10)).toBe(true);
    const took = Date.now() - killedAt;
    console.log(`fork server, its job and the job's subprocess gone ${took} ms after the daemon died`);
    expect(took).toBeLessThan(1000);
    expect(forkServersOf(dataDir)).toEqual([]);
  });
});
