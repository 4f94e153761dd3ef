// What a daemon left running for a long time, or started twice by mistake, must not do: leak file
// descriptors, let a second daemon sweep the first one's jobs, or let a job outlive its daemon.
// Each daemon here is its own OS process (from source), so crashes and limits are real.

import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FROM_SOURCE, runProcess } from "./helpers/cli.ts";
import { scriptFile, TOKEN_SHA256, tempDir } from "./helpers/daemon.ts";
import { eventually, isGone } from "./helpers/procs.ts";
import { freePort, type ServeProcess, startServeProcess } from "./helpers/serve-process.ts";

const ROOT = join(import.meta.dir, "..");
const processes: ServeProcess[] = [];
afterEach(() => {
  for (const p of processes.splice(0)) p.proc.kill("SIGKILL");
});

const uuidOf = async (res: Response) => ((await res.json()) as { uuid: string }).uuid;
const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

/** Writes the pids of the script and of a grandchild `sleep` to outputs/pids.json, then waits long. */
const TS_WITH_GRANDCHILD = `export async function main(ctx) {
  const child = Bun.spawn(["sleep", "300"]);
  await Bun.write(ctx.outputDir("pids.json"), JSON.stringify({ script: process.pid, grandchild: child.pid }));
  await Bun.sleep(300000);
}`;
const PY_WITH_GRANDCHILD = `import json, os, subprocess, time

def main(pc, params):
    child = subprocess.Popen(["sleep", "300"])
    with open(os.path.join(pc.get_output_dir(), "pids.json"), "w") as f:
        json.dump({"script": os.getpid(), "grandchild": child.pid}, f)
    time.sleep(300)
`;

async function pidsOf(dataDir: string, uuid: string): Promise<{ script: number; grandchild: number }> {
  const file = join(dataDir, "jobs", uuid, "outputs", "pids.json");
  expect(await eventually(() => existsSync(file) && readFileSync(file, "utf8").length > 0, 15000)).toBe(true);
  return JSON.parse(readFileSync(file, "utf8"));
}

function serve(dataDir: string, env: Record<string, string> = {}, command = FROM_SOURCE) {
  return startServeProcess(command, { dataDir, cwd: ROOT, env }).then((p) => {
    processes.push(p);
    return p;
  });
}

describe("file descriptors", () => {
  test("300 jobs under `ulimit -n 128` all succeed and the daemon's fd count stays flat", async () => {
    const dataDir = tempDir();
    // Under the old leak (one channel fd per attempt) every job failed past ~100 jobs here.
    const limited = ["bash", "-c", 'ulimit -n 128 && exec "$@"', "bash", ...FROM_SOURCE];
    const daemon = await serve(dataDir, { SLOTS: "cpu:2" }, limited);
    const noop = scriptFile("export async function main() { return 1; }");
    // A first job warms everything that opens lazily (the WAL, the job log path, ...).
    await daemon.waitFor(await uuidOf(await daemon.submit({ script: noop })));
    const before = fdCount(daemon.proc.pid);
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) {
      const res = await daemon.submit({ script: noop });
      expect(res.status).toBe(200);
      ids.push(await uuidOf(res));
    }
    for (const id of ids) expect((await daemon.waitFor(id, undefined, 60000)).status).toBe("SUCCESS");
    await Bun.sleep(300);
    const after = fdCount(daemon.proc.pid);
    console.log(`fd count of the daemon: ${before} after 1 job, ${after} after 301 jobs`);
    expect(after - before).toBeLessThanOrEqual(10);
  }, 120000);
});

describe("one daemon per data folder", () => {
  test("a second serve on the same data folder exits 1 at once naming the holder, and its running job is untouched", async () => {
    const dataDir = tempDir();
    const first = await serve(dataDir, { SLOTS: "cpu:1" });
    const job = await uuidOf(
      await first.submit({
        script: scriptFile("export async function main() { await Bun.sleep(1500); return 7; }"),
      }),
    );
    await first.waitFor(job, ["STARTED"]);
    const started = Date.now();
    const second = await runProcess(
      [...FROM_SOURCE, "serve", "--port", String(freePort()), "--data-dir", dataDir],
      {
        cwd: ROOT,
        env: { ...process.env, API_HOST: "127.0.0.1", GOD_PASSWORD_SHA256: TOKEN_SHA256 },
      },
    );
    expect(second.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(10000);
    const lines = second.stderr.trim().split("\n");
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain(`pid ${first.proc.pid}`);
    const details = await first.waitFor(job);
    expect(details.status).toBe("SUCCESS");
    expect((details.attempts as { cause: string }[]).map((a) => a.cause)).toEqual(["success"]);
  }, 60000);

  test("a start that cannot bind its port exits 1 before sweeping the jobs a crashed daemon left", async () => {
    const dataDir = tempDir();
    const first = await serve(dataDir, { SLOTS: "cpu:1" });
    const job = await uuidOf(
      await first.submit({ script: scriptFile("export async function main() { await Bun.sleep(60000); }") }),
    );
    await first.waitFor(job, ["STARTED"]);
    first.proc.kill("SIGKILL");
    await first.proc.exited;

    const busy = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("busy") });
    try {
      const second = await runProcess(
        [...FROM_SOURCE, "serve", "--port", String(busy.port), "--data-dir", dataDir],
        { cwd: ROOT, env: { ...process.env, API_HOST: "127.0.0.1", GOD_PASSWORD_SHA256: TOKEN_SHA256 } },
      );
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`cannot listen on 127.0.0.1:${busy.port}`);
    } finally {
      busy.stop(true);
    }
    // Nothing was swept: the job is still STARTED with its attempt open, for a start that can serve.
    const db = new Database(join(dataDir, "jobs.sqlite"), { readonly: true });
    try {
      const row = db.query("SELECT status FROM jobs WHERE uuid = ?").get(job) as { status: string };
      expect(row.status).toBe("STARTED");
      const open = db.query("SELECT count(*) AS n FROM attempts WHERE ended_at IS NULL").get() as {
        n: number;
      };
      expect(open.n).toBe(1);
    } finally {
      db.close();
    }
    const third = await serve(dataDir, { SLOTS: "cpu:1" });
    const details = (await (await third.api(`/jobs/${job}/details`)).json()) as {
      attempts: { cause: string }[];
    };
    expect(details.attempts[0]!.cause).toBe("lost");
  }, 60000);

  test("the listening line names the address really bound", async () => {
    const dataDir = tempDir();
    const daemon = await serve(dataDir, { API_HOST: "0.0.0.0" });
    expect(daemon.log()).toMatch(/listening address=0\.0\.0\.0:\d+/);
  }, 30000);
});

describe("a job never outlives its daemon", () => {
  for (const [kind, name, source, env] of [
    ["a TS job (warm child)", "job.ts", TS_WITH_GRANDCHILD, {}],
    ["a TS job (cold child)", "job.ts", TS_WITH_GRANDCHILD, { WARM_CHILDREN: "false" }],
    ["a Python job", "job.py", PY_WITH_GRANDCHILD, {}],
  ] as const) {
    test(`${kind} and its grandchild die within a second of a kill -9 of the daemon`, async () => {
      const dataDir = tempDir();
      const daemon = await serve(dataDir, { SLOTS: "cpu:1", ...env });
      // A first job leaves a warm child in the slot (where warm children are on): the job runs in it.
      const warmUp = await uuidOf(
        await daemon.submit({ script: scriptFile("export function main() { return 1; }") }),
      );
      await daemon.waitFor(warmUp);
      const job = await uuidOf(await daemon.submit({ script: scriptFile(source, name) }));
      const pids = await pidsOf(dataDir, job);
      daemon.proc.kill("SIGKILL");
      await daemon.proc.exited;
      const killedAt = Date.now();
      expect(await eventually(() => isGone(pids.script) && isGone(pids.grandchild), 3000, 10)).toBe(true);
      const took = Date.now() - killedAt;
      console.log(`${kind}: its process tree was gone ${took} ms after the daemon died`);
      expect(took).toBeLessThan(1000);
    }, 60000);
  }

  test("a script that left its process group (setsid) is killed by the next start's sweep", async () => {
    const dataDir = tempDir();
    const daemon = await serve(dataDir, { SLOTS: "cpu:1" });
    const escapee = `export async function main(ctx) {
      const child = Bun.spawn(["setsid", "sleep", "300"]);
      await Bun.write(ctx.outputDir("pids.json"), JSON.stringify({ script: process.pid, grandchild: child.pid }));
      await Bun.sleep(300000);
    }`;
    const job = await uuidOf(await daemon.submit({ script: scriptFile(escapee) }));
    const pids = await pidsOf(dataDir, job);
    daemon.proc.kill("SIGKILL");
    await daemon.proc.exited;
    expect(await eventually(() => isGone(pids.script), 3000)).toBe(true);
    expect(isGone(pids.grandchild)).toBe(false); // out of the group: only the sweep can find it
    const next = await serve(dataDir, { SLOTS: "cpu:1" });
    expect(await eventually(() => isGone(pids.grandchild), 5000)).toBe(true);
    await next.api(`/jobs/${job}`, { method: "DELETE" });
  }, 60000);
});
