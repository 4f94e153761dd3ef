// The client commands, each run as a real process (`bun src/cli/main.ts <command>`) against a real
// daemon: what they print, the files they write, and the exit codes scripts rely on.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { startTestDaemon, type TestDaemon, TOKEN, tempDir } from "./helpers/daemon.ts";
import { freePort } from "./helpers/serve-process.ts";

const MAIN = join(import.meta.dir, "../src/cli/main.ts");
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let d: TestDaemon;
let work: string;
beforeAll(async () => {
  d = await startTestDaemon();
  work = tempDir("pxs-cli-");
});
afterAll(() => d.close());

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Environment without the caller's PIXYZ_* settings, so only what a test passes counts. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith("PIXYZ_") && key !== "DATA_DIR") env[key] = value;
  }
  return { ...env, ...extra };
}

function start(args: string[], options: { auth?: boolean; env?: Record<string, string>; url?: string } = {}) {
  const auth = options.auth === false ? [] : ["-t", TOKEN];
  return Bun.spawn([process.execPath, MAIN, ...args, "--url", options.url ?? d.url, ...auth], {
    cwd: work,
    env: cleanEnv(options.env),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
}

async function finish(proc: ReturnType<typeof start>): Promise<Run> {
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

const cli = (args: string[], options?: Parameters<typeof start>[1]) => finish(start(args, options));

function writeScript(name: string, source: string): string {
  const path = join(work, name);
  writeFileSync(path, source);
  return path;
}

const STEPS = writeScriptLater(
  "steps.ts",
  `
  export async function main(ctx, params) {
    ctx.progress.total(3);
    for (const name of ["Importing", "Repairing", "Exporting"]) {
      ctx.progress.next(name);
      await Bun.sleep(params.pause ?? 200);
    }
    const input = ctx.inputFile();
    return { who: params.who, inputBytes: input ? (await Bun.file(input).arrayBuffer()).byteLength : null };
  }`,
);

/** Scripts are written once the work folder exists. */
function writeScriptLater(name: string, source: string): () => string {
  return () => writeScript(name, source);
}

/** A deterministic, incompressible-ish payload. */
function payload(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

function oneErrorLine(run: Run): string {
  const lines = run.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(run.stderr).not.toMatch(/^\s+at /m);
  return lines[0]!;
}

describe("exec", () => {
  test("-w uploads (bytes shown), prints live progress with each step, and exits 0 on SUCCESS; -r prints the result", async () => {
    const input = join(work, "model.fbx");
    writeFileSync(input, payload(200_000, 1));
    const run = await cli([
      "exec",
      "-s",
      STEPS(),
      "-i",
      input,
      "-p",
      '{"who":"cli"}',
      "-n",
      "first",
      "-w",
      "-r",
    ]);
    expect(run.code).toBe(0);
    const [uuid, ...rest] = run.stdout.trimEnd().split("\n");
    expect(uuid).toMatch(UUID);
    expect(JSON.parse(rest.join("\n"))).toEqual({ who: "cli", inputBytes: 200_000 });

    // Not a terminal: plain lines, one per change of status or step, in order.
    expect(run.stderr).toContain("Uploading steps.ts, model.fbx");
    expect(run.stderr).toContain(`(${200_000 + readFileSync(STEPS()).length} bytes)`);
    const progress = run.stderr.split("\n").filter((l) => l.startsWith(`Job ${uuid} `));
    const steps = progress.map((l) => /STARTED \d+% (\w+)$/.exec(l)?.[1]).filter(Boolean);
    expect(steps).toEqual(["Importing", "Repairing", "Exporting"]);
    expect(progress.some((l) => /STARTED 33% Repairing$/.test(l))).toBe(true);
    expect(progress.at(-1)).toMatch(new RegExp(`^Job ${uuid} SUCCESS after \\d+\\.\\d+ s$`));

    const details = (await (await d.api(`/jobs/${uuid}/details`)).json()) as Record<string, unknown>;
    expect(details).toMatchObject({ name: "first", status: "SUCCESS" });
  });

  test.skipIf(!Bun.which("script"))(
    "on a terminal, -w draws a live bar with the percent and the current step",
    async () => {
      const command = [
        process.execPath,
        MAIN,
        "exec",
        "-s",
        STEPS(),
        "-p",
        '{"pause": 300}',
        "-w",
        "--url",
        d.url,
        "-t",
        TOKEN,
      ];
      const shell = command.map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(" ");
      const proc = Bun.spawn(["script", "-qec", shell, "/dev/null"], {
        cwd: work,
        env: cleanEnv({ TERM: "xterm", COLUMNS: "120" }),
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
      });
      const screen = await new Response(proc.stdout).text();
      expect(await proc.exited).toBe(0);
      const uuid = screen
        .trim()
        .split(/\r?\n/)
        .find((l) => UUID.test(l.trim()))!
        .trim();
      // Redrawn in place (carriage return / cursor moves), not one line per update.
      const short = uuid.slice(0, 8);
      expect(screen).toMatch(new RegExp(`Job ${short} [=-]+ 33% STARTED Repairing`));
      expect(screen).toMatch(new RegExp(`Job ${short} =+ 100% SUCCESS Exporting`));
      expect(screen).toContain("\u001b[");
      expect(screen).not.toContain(`Job ${uuid} STARTED`);
      expect(screen).toContain(`Job ${uuid} SUCCESS after`);
    },
  );

  test("-w exits 10 on FAILURE and says why", async () => {
    const script = writeScript(
      "fails.ts",
      `export function main() { throw new Error("the mesh is empty"); }`,
    );
    const run = await cli(["exec", "-s", script, "-w"]);
    expect(run.code).toBe(10);
    expect(run.stderr).toMatch(/Job \S+ FAILURE/);
    expect(run.stderr).toContain("Error: Error: the mesh is empty");
  });

  test("-w exits 11 when the job is cancelled (by the cancel command) while it is watched", async () => {
    const script = writeScript("long.ts", `export async function main() { await Bun.sleep(60000); }`);
    const watcher = start(["exec", "-s", script, "-w"]);
    const reader = watcher.stdout.getReader();
    let stdout = new TextDecoder().decode((await reader.read()).value);
    const uuid = stdout.trim().split("\n")[0]!;
    expect(uuid).toMatch(UUID);
    await d.waitFor(uuid, ["STARTED"]);
    const cancel = await cli(["cancel", "-j", uuid]);
    expect(cancel.code).toBe(0);
    expect(cancel.stdout.trim()).toBe(`Job ${uuid} REVOKED`);
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      stdout += new TextDecoder().decode(chunk.value);
    }
    const stderr = await new Response(watcher.stderr).text();
    expect(await watcher.exited).toBe(11);
    expect(stdout.trim()).toBe(uuid);
    expect(stderr).toContain(`Job ${uuid} REVOKED`);

    // Idempotent: cancelling it again says the same.
    const again = await cli(["cancel", "-j", uuid]);
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe(`Job ${uuid} REVOKED`);
  });

  test("--json prints one JSON document and nothing else", async () => {
    const run = await cli(["exec", "-s", STEPS(), "-p", '{"pause": 10}', "-w", "--json"]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe("");
    const details = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(details.status).toBe("SUCCESS");
    expect(details.result).toEqual({ who: undefined, inputBytes: null });
    expect((details.steps as unknown[]).length).toBe(3);

    const submitted = await cli(["exec", "-s", STEPS(), "--json"]);
    expect(submitted.code).toBe(0);
    expect(JSON.parse(submitted.stdout)).toMatchObject({ status: "SENT" });
  });

  test("without -w prints the uuid and exits 0 at once", async () => {
    const run = await cli(["exec", "-s", STEPS(), "-p", '{"pause": 10}']);
    expect(run.code).toBe(0);
    const uuid = run.stdout.trim();
    expect(uuid).toMatch(UUID);
    expect((await d.waitFor(uuid)).status).toBe("SUCCESS");
  });

  test("bad local arguments exit 2 with one line", async () => {
    const missing = await cli(["exec", "-s", join(work, "nope.ts")]);
    expect(missing.code).toBe(2);
    expect(oneErrorLine(missing)).toContain("no file");
    const badJson = await cli(["exec", "-s", STEPS(), "-p", "{oops"]);
    expect(badJson.code).toBe(2);
    expect(oneErrorLine(badJson)).toContain("-p/--params is not valid JSON");
    const noScript = await cli(["exec"]);
    expect(noScript.code).toBe(2);
    expect(oneErrorLine(noScript)).toBe("pixyz-scheduler: -s/--script is required");
    const unknownFlag = await cli(["exec", "--frobnicate"]);
    expect(unknownFlag.code).toBe(2);
    expect(oneErrorLine(unknownFlag)).toContain("--frobnicate");
  });
});

describe("process, processes, process-doc", () => {
  test("runs a pre-registered process and watches it", async () => {
    const run = await cli(["process", "-n", "sleep", "-p", '{"duration": 0.1}', "-w", "-r"]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout.trimEnd().split("\n").slice(1).join("\n"))).toEqual({ sleep: 0.1 });
    const unknown = await cli(["process", "-n", "nope"]);
    expect(unknown.code).toBe(1);
    expect(oneErrorLine(unknown)).toBe("pixyz-scheduler: 400 Invalid process 'nope'");
  });

  test("lists the processes and prints one's documentation", async () => {
    const list = await cli(["processes"]);
    expect(list.code).toBe(0);
    expect(list.stdout.trim().split("\n")).toEqual(expect.arrayContaining(["api_test", "sleep"]));
    const doc = await cli(["process-doc", "sleep"]);
    expect(doc.code).toBe(0);
    expect(doc.stdout).toStartWith("Process 'sleep' documentation:");
  });
});

describe("status, jobs, outputs, logs", () => {
  test("status exits with the job's status code; jobs lists it in a table", async () => {
    const ok = (await cli(["exec", "-s", STEPS(), "-p", '{"pause": 10}', "-w"])).stdout
      .trim()
      .split("\n")[0]!;
    const failed = (
      await cli([
        "exec",
        "-s",
        writeScript("f2.ts", "export function main() { throw new Error('x'); }"),
        "-w",
      ])
    ).stdout.trim();
    const status = await cli(["status", "-j", ok]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`Job ${ok}  SUCCESS  100%`);
    expect(status.stdout).toContain("step 2:    Repairing");
    expect((await cli(["status", "-j", failed])).code).toBe(10);
    const tooLate = await cli(["cancel", "-j", ok]);
    expect(tooLate.code).toBe(1);
    expect(oneErrorLine(tooLate)).toMatch(/^pixyz-scheduler: 409 .*already finished with status SUCCESS/);

    const jobs = await cli(["jobs"]);
    expect(jobs.code).toBe(0);
    expect(jobs.stdout.split("\n")[0]).toMatch(/^UUID\s+STATUS\s+PROGRESS\s+NAME\s+ERROR$/);
    expect(jobs.stdout).toMatch(new RegExp(`${ok}\\s+SUCCESS\\s+100%`));
    expect(jobs.stdout).toMatch(new RegExp(`${failed}\\s+FAILURE`));
    const onlyFailed = JSON.parse((await cli(["jobs", "--status", "failure", "--json"])).stdout) as {
      jobs: { status: string }[];
    };
    expect(onlyFailed.jobs.length).toBeGreaterThan(0);
    expect(onlyFailed.jobs.every((j) => j.status === "FAILURE")).toBe(true);

    const unknown = await cli(["status", "-j", "0b8e5b9a-2c4d-4f6e-9a1b-3c5d7e9f1a2b"]);
    expect(unknown.code).toBe(1);
    expect(oneErrorLine(unknown)).toBe(
      "pixyz-scheduler: 404 Job '0b8e5b9a-2c4d-4f6e-9a1b-3c5d7e9f1a2b' does not exist",
    );
  });

  test("status -w watches a running job to its end", async () => {
    const uuid = (await cli(["exec", "-s", STEPS(), "-p", '{"pause": 300}'])).stdout.trim();
    const run = await cli(["status", "-j", uuid, "-w"]);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`Job ${uuid} STARTED`);
    expect(run.stdout).toContain(`Job ${uuid}  SUCCESS  100%`);
  });

  test("logs prints the job's log; -f follows it live until the job ends", async () => {
    const script = writeScript(
      "chatty.ts",
      `export async function main() { for (let i = 0; i < 5; i++) { console.log("tick " + i); await Bun.sleep(200); } }`,
    );
    const uuid = (await cli(["exec", "-s", script])).stdout.trim();
    await d.waitFor(uuid, ["STARTED"]);
    const follow = await cli(["logs", "-j", uuid, "-f"]);
    expect(follow.code).toBe(0);
    const onDisk = readFileSync(join(d.dataDir, "jobs", uuid, "job.log"), "utf8");
    expect(follow.stdout).toBe(onDisk);
    expect(follow.stdout).toContain("tick 4");

    const plain = await cli(["logs", "-j", uuid]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toBe(onDisk);
    const from = Buffer.byteLength(onDisk.slice(0, onDisk.indexOf("tick 2")));
    const tail = await cli(["logs", "-j", uuid, "--offset", String(from)]);
    expect(tail.stdout).toBe(onDisk.slice(onDisk.indexOf("tick 2")));
  });
});

describe("download, download-all", () => {
  const WRITER = `
    export async function main(ctx, params) {
      await Bun.sleep(params.delay);
      let x = 7;
      const bytes = new Uint8Array(params.size).map(() => ((x = (x * 1103515245 + 12345) >>> 0) >>> 24));
      await Bun.write(ctx.outputDir("nested/deep/big.bin"), bytes);
      await Bun.write(ctx.outputDir("readme.txt"), "hello\\n");
      await Bun.write(ctx.outputDir("é name.txt"), "unicode\\n");
      return {};
    }`;

  test("download writes the same bytes as the job's file, and says how many", async () => {
    const script = writeScript("writer.ts", WRITER);
    const uuid = (
      await cli(["exec", "-s", script, "-p", '{"delay": 0, "size": 3000000}', "-w"])
    ).stdout.trim();
    const outputs = await cli(["outputs", "-j", uuid]);
    expect(outputs.stdout.trim().split("\n").sort()).toEqual([
      "nested/deep/big.bin",
      "readme.txt",
      "é name.txt",
    ]);

    const target = join(work, "downloads");
    mkdirSync(target);
    const run = await cli(["download", "-j", uuid, "-f", "nested/deep/big.bin", "-o", target]);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(join(target, "big.bin"));
    expect(run.stderr).toContain("(3000000 bytes)");
    const original = readFileSync(join(d.dataDir, "jobs", uuid, "outputs/nested/deep/big.bin"));
    expect(Buffer.compare(readFileSync(join(target, "big.bin")), original)).toBe(0);

    const named = await cli(["download", "-j", uuid, "-f", "é name.txt", "-o", join(work, "renamed.txt")]);
    expect(named.code).toBe(0);
    expect(readFileSync(join(work, "renamed.txt"), "utf8")).toBe("unicode\n");

    const missing = await cli(["download", "-j", uuid, "-f", "nope.bin"]);
    expect(missing.code).toBe(1);
    expect(oneErrorLine(missing)).toBe("pixyz-scheduler: 404 File 'outputs/nope.bin' not found");
  });

  test("download-all waits through 425 while the job runs, then writes a zip of every output", async () => {
    // The daemon answers 425 with Retry-After: 5 while the job runs: this takes about 5 s.
    const script = writeScript("writer.ts", WRITER);
    const uuid = (await cli(["exec", "-s", script, "-p", '{"delay": 1500, "size": 500000}'])).stdout.trim();
    const zipPath = join(work, "all.zip");
    const run = await cli(["download-all", "-j", uuid, "-o", zipPath]);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/^425 .*not finished.*asking again in \d+(\.\d+)? s$/m);
    expect(run.stdout.trim()).toBe(zipPath);
    const entries = unzipSync(new Uint8Array(readFileSync(zipPath)));
    expect(Object.keys(entries).sort()).toEqual(["nested/deep/big.bin", "readme.txt", "é name.txt"]);
    for (const [name, bytes] of Object.entries(entries)) {
      const original = readFileSync(join(d.dataDir, "jobs", uuid, "outputs", name));
      expect(Buffer.compare(Buffer.from(bytes), original)).toBe(0);
    }
  }, 30000);

  test("download-all gives up after --wait with one line", async () => {
    const script = writeScript("slow.ts", `export async function main() { await Bun.sleep(30000); }`);
    const uuid = (await cli(["exec", "-s", script])).stdout.trim();
    const run = await cli(["download-all", "-j", uuid, "--wait", "0"]);
    expect(run.code).toBe(1);
    expect(oneErrorLine(run)).toMatch(/^pixyz-scheduler: 425 .*still not ready after 0 s/);
    await cli(["cancel", "-j", uuid]);
  });
});

describe("tokens and connections", () => {
  test("a wrong or missing token prints one clear line and exits 1", async () => {
    const wrong = await cli(["jobs", "-t", "wrong-token"], { auth: false });
    expect(wrong.code).toBe(1);
    expect(oneErrorLine(wrong)).toStartWith(
      "pixyz-scheduler: 401 Invalid token (pass the token with -t/--token",
    );
    const none = await cli(["jobs", "--data-dir", join(work, "no-such-dir")], { auth: false });
    expect(none.code).toBe(1);
    expect(oneErrorLine(none)).toStartWith("pixyz-scheduler: 401 Invalid token");
  });

  test("no daemon: one line and exit 3", async () => {
    const run = await cli(["status", "-j", "0b8e5b9a-2c4d-4f6e-9a1b-3c5d7e9f1a2b"], {
      url: `http://127.0.0.1:${freePort()}`,
    });
    expect(run.code).toBe(3);
    expect(oneErrorLine(run)).toMatch(
      /^pixyz-scheduler: cannot connect to http:\/\/127\.0\.0\.1:\d+: connection refused/,
    );
  });

  test("the token comes from PIXYZ_TOKEN, or from the local daemon's token file", async () => {
    const fromEnv = await cli(["jobs"], { auth: false, env: { PIXYZ_TOKEN: TOKEN } });
    expect(fromEnv.code).toBe(0);
    const url = await cli(["processes"], { auth: false, env: { PIXYZ_URL: d.url }, url: d.url });
    expect(url.code).toBe(0);

    // A daemon with no configured hash makes <data>/api-token; a client on this machine reads it.
    const local = await startTestDaemon({ GOD_PASSWORD_SHA256: "" });
    try {
      const fromFile = await cli(["jobs", "--data-dir", local.dataDir], { auth: false, url: local.url });
      expect(fromFile.code).toBe(0);
      const viaEnv = await cli(["jobs"], { auth: false, url: local.url, env: { DATA_DIR: local.dataDir } });
      expect(viaEnv.code).toBe(0);
      // Never sent to a daemon elsewhere: with a non-loopback address the file is not read.
      const { resolveToken } = await import("../src/cli/client/options.ts");
      expect(resolveToken({ "data-dir": local.dataDir }, local.url, {})).toBe(
        readFileSync(join(local.dataDir, "api-token"), "utf8").trim(),
      );
      expect(resolveToken({ "data-dir": local.dataDir }, "http://192.0.2.1:8001", {})).toBeNull();
    } finally {
      await local.close();
    }
  });
});
