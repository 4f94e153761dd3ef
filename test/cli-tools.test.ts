// The small helpers, run as real processes: hash-password (hidden input on a terminal, a line
// from a pipe), version, and doctor (what is wrong and how to fix it, and its exit code).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { MAIN, runCli } from "./helpers/cli.ts";
import { startTestDaemon, type TestDaemon, TOKEN_SHA256, tempDir } from "./helpers/daemon.ts";
import { freePort } from "./helpers/serve-process.ts";

function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    // Settings of the caller's environment must not leak into the checks.
    if (
      value !== undefined &&
      !/^(PIXYZ_|DATA_DIR$|SLOTS$|PYTHON_BIN$|GOD_PASSWORD|MIN_FREE_DISK$|API_)/.test(key)
    ) {
      env[key] = value;
    }
  }
  return { ...env, ...extra };
}

const run = (args: string[], options: { env?: Record<string, string>; stdin?: string } = {}) =>
  runCli(args, { env: cleanEnv(options.env), stdin: options.stdin });

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe("hash-password", () => {
  test("reads one line from a pipe", async () => {
    const piped = await run(["hash-password"], { stdin: "s3cret-token\nsecond line\n" });
    expect(piped.code).toBe(0);
    expect(piped.stdout).toBe(`${sha256("s3cret-token")}\n`);
    const empty = await run(["hash-password"], { stdin: "\n" });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain("empty");
    const arg = await run(["hash-password", "s3cret-token"]);
    expect(arg.code).toBe(2);
    expect(arg.stderr).toContain("never passed as an argument");
  });

  /** Runs hash-password on a pseudo-terminal (util-linux `script`), types `keys` after the prompt. */
  async function onTerminal(keys: string) {
    const proc = Bun.spawn(["script", "-qec", `${process.execPath} ${MAIN} hash-password`, "/dev/null"], {
      env: cleanEnv({ TERM: "dumb" }),
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    const reader = proc.stdout.getReader();
    let screen = "";
    while (!screen.includes("Token")) {
      const { value, done } = await reader.read();
      if (done) break;
      screen += new TextDecoder().decode(value);
    }
    // Typed once the prompt is up (raw mode is on): the terminal must not echo it.
    proc.stdin.write(keys);
    await proc.stdin.flush();
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      screen += new TextDecoder().decode(chunk.value);
    }
    const code = await proc.exited;
    proc.stdin.end();
    return { code, screen };
  }

  test.skipIf(!Bun.which("script"))("on a terminal, asks without echoing the token", async () => {
    const { code, screen } = await onTerminal("s3cret-tokenX\u007f\r");
    expect(code).toBe(0);
    expect(screen).toContain("Token (not shown): ");
    expect(screen).toContain(sha256("s3cret-token"));
    expect(screen).not.toContain("s3cret");
  });

  test.skipIf(!Bun.which("script"))("on a terminal, Ctrl-C cancels", async () => {
    const { code, screen } = await onTerminal("abc\u0003");
    expect(code).toBe(130);
    expect(screen).toContain("cancelled");
    expect(screen).not.toContain("abc");
  });
});

test("version prints the package version", async () => {
  const out = await run(["version"]);
  expect(out.code).toBe(0);
  expect(out.stdout).toBe(`${pkg.version}\n`);
});

describe("doctor", () => {
  let daemon: TestDaemon;
  beforeAll(async () => {
    daemon = await startTestDaemon();
  });
  afterAll(() => daemon.close());

  interface Report {
    ok: boolean;
    checks: { level: string; name: string; message: string; fix?: string }[];
  }
  const doctor = async (args: string[], env: Record<string, string> = {}) => {
    const out = await run(["doctor", ...args], { env });
    return { ...out, report: args.includes("--json") ? (JSON.parse(out.stdout) as Report) : null };
  };
  const level = (report: Report, name: string) =>
    report.checks.filter((c) => c.name === name).map((c) => c.level);

  test("a sound setup: every check ok, exit 0", async () => {
    const dataDir = tempDir("pxs-doctor-");
    const out = await doctor(["--data-dir", dataDir, "--port", String(freePort()), "--slots", "cpu:2"], {
      GOD_PASSWORD_SHA256: TOKEN_SHA256,
      MIN_FREE_DISK: "1M",
    });
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(new RegExp(`^ok    data dir  ${dataDir} is writable$`, "m"));
    expect(out.stdout).toMatch(/^ok {4}slots {5}cpu:2 \(from SLOTS\), control:4 \(take no core\)$/m);
    // No GPU here: the GPU queues run on the cpu slots (GPU_FALLBACK=cpu by default), and doctor says so.
    expect(out.stdout).toMatch(
      /^ok {4}queues {4}served: cpu; gpu on cpu-0,cpu-1 \(no GPU here: ran on cpu\); /m,
    );
    expect(out.stdout).toMatch(/^ok {4}machine {3}\d+ cores, \d+ MB memory/m);
    // The host line (systeminformation): the system, its kernel and the CPU model.
    expect(out.stdout).toMatch(/^ok {4}host {6}.+ \(kernel .+, .+\), .+, \d+ cores$/m);
    expect(out.stdout).toMatch(/^ok {4}token {5}GOD_PASSWORD_SHA256 is set/m);
    expect(out.stdout).toMatch(/^ok {4}port {6}port \d+ is free$/m);
    // The default python3: ok where there is one, a warning (not a failure) where there is none.
    if (Bun.which("python3")) expect(out.stdout).toMatch(/^ok {4}python {4}Python 3\.\d+ at \//m);
    else expect(out.stdout).toMatch(/^WARN {2}python .*PYTHON_BIN 'python3' not found/m);
    expect(out.stdout).toMatch(/^Nothing wrong( \(\d+ warning\(s\)\))?\.$/m);

    // A configured PYTHON_BIN that is not a usable Python is a failure.
    const notPython = await doctor(["--data-dir", dataDir, "--json"], {
      PYTHON_BIN: process.execPath,
      SLOTS: "cpu:1",
    });
    expect(notPython.code).toBe(1);
    expect(notPython.report!.checks.find((c) => c.name === "python")).toMatchObject({
      level: "fail",
      fix: expect.stringContaining("set PYTHON_BIN"),
    });
  });

  test("says what is wrong and how to fix it, and exits 1", async () => {
    const dataDir = tempDir("pxs-doctor-");
    writeFileSync(join(dataDir, "api-token"), "token\n");
    chmodSync(join(dataDir, "api-token"), 0o644);
    // Something that is not pixyz-scheduler holds the port.
    const squatter = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () => new Response("nope", { status: 404 }),
    });
    try {
      const out = await doctor(["--data-dir", dataDir, "--port", String(squatter.port), "--json"], {
        PYTHON_BIN: "/nonexistent/python3",
        MIN_FREE_DISK: "1000T",
        SLOTS: "cpu:0",
      });
      expect(out.code).toBe(1);
      const report = out.report!;
      expect(report.ok).toBe(false);
      expect(level(report, "python")).toEqual(["fail"]);
      expect(level(report, "disk")).toEqual(["fail"]);
      // 1000 TiB is more than this whole disk: the message says that, not just "below".
      expect(report.checks.find((c) => c.name === "disk")!.message).toContain(
        "larger than the whole data disk",
      );
      expect(level(report, "token")).toEqual(["fail"]);
      expect(level(report, "slots")).toEqual(["fail"]);
      expect(level(report, "port")).toEqual(["fail"]);
      for (const check of report.checks.filter((c) => c.level !== "ok")) expect(check.fix).toBeTruthy();
      expect(report.checks.find((c) => c.name === "token")!.fix).toBe(
        `chmod 600 ${join(dataDir, "api-token")}`,
      );
    } finally {
      squatter.stop(true);
    }
  });

  test("a data dir that cannot be a folder, and a bad setting, are reported", async () => {
    const parent = tempDir("pxs-doctor-");
    writeFileSync(join(parent, "file"), "x");
    const notDir = await doctor(["--data-dir", join(parent, "file", "data"), "--json"], { SLOTS: "cpu:1" });
    expect(notDir.code).toBe(1);
    expect(notDir.report!.checks.find((c) => c.name === "data dir")).toMatchObject({ level: "fail" });

    const missing = join(parent, "new", "data");
    const later = await doctor(["--data-dir", missing, "--json"], { SLOTS: "cpu:1", MIN_FREE_DISK: "1M" });
    expect(later.report!.checks.find((c) => c.name === "data dir")!.message).toContain("serve creates it");

    const bad = await doctor(["--data-dir", parent], { SLOTS: "cpu:lots" });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAIL {2}settings {2}invalid SLOTS/m);
  });

  test("recognises a running daemon on the port", async () => {
    const dataDir = tempDir("pxs-doctor-");
    mkdirSync(dataDir, { recursive: true });
    const out = await doctor(
      ["--data-dir", dataDir, "--port", String(daemon.port), "--host", "127.0.0.1", "--json"],
      {
        SLOTS: "cpu:1",
        MIN_FREE_DISK: "1M",
      },
    );
    expect(out.report!.checks.find((c) => c.name === "port")).toMatchObject({
      level: "ok",
      message: expect.stringContaining(`a pixyz-scheduler ${pkg.version} answers`),
    });
  });
});
