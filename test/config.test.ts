// The configuration: defaults, config file < environment < flags, and one clear error per bad value.
// Plus the CLI's own exits, run as a real process.
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { loadConfig } from "../src/config/config.ts";
import { ConfigError } from "../src/config/parse.ts";
import { tempDir } from "./helpers/daemon.ts";

const HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const ROOT = resolve(import.meta.dir, "..");

const dirs: string[] = [];
function dir(): string {
  const path = tempDir("pxs-config-");
  dirs.push(path);
  return path;
}
afterAll(() => {
  for (const path of dirs) rmSync(path, { recursive: true, force: true });
});

function configFile(content: string): string {
  const path = join(dir(), "pixyz-scheduler.conf");
  writeFileSync(path, content);
  return path;
}

/** The ConfigError that loading these sources throws. */
function configError(env: Record<string, string>, flags: Record<string, string> = {}): ConfigError {
  try {
    loadConfig({ env, flags });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`no ConfigError for ${JSON.stringify({ env, flags })}`);
}

describe("defaults", () => {
  test("an empty environment gives the documented defaults (the settings pinned here)", () => {
    expect(loadConfig({ env: {} })).toMatchObject({
      host: "0.0.0.0",
      port: 8001,
      dataDir: resolve("./data"),
      godPasswordSha256: null,
      processDir: null,
      slots: null,
      defaultTimeLimitS: 3600,
      retryTimeLimitS: 3600,
      maxMemoryKb: 0,
      maxUploadBytes: 10 * 1024 ** 3,
      cleanupEnabled: false,
      cleanupDelayS: 3600,
      cleanupCron: "0 */10 * * * *",
      shutdownGraceS: 30,
      logLevel: "info",
      logFormat: "text",
      pythonBin: "python3",
    });
  });

  test("empty and blank values mean the default", () => {
    const config = loadConfig({ env: { API_PORT: "", SLOTS: " ", GOD_PASSWORD_SHA256: "", LOG_LEVEL: "" } });
    expect(config).toMatchObject({ port: 8001, slots: null, godPasswordSha256: null, logLevel: "info" });
  });
});

describe("the environment", () => {
  test("sets each setting", () => {
    const config = loadConfig({
      env: {
        API_HOST: "127.0.0.1",
        API_PORT: "9000",
        DATA_DIR: "/tmp/pxs-data",
        GOD_PASSWORD_SHA256: HASH,
        PROCESS_DIR: "./my-processes",
        SLOTS: "cpu:4,gpu:1,gpuhigh:0",
        PIXYZ_TIME_LIMIT: "600",
        PIXYZ_RETRY_TIME_LIMIT: "1200",
        MAX_MEMORY_USAGE: "2048",
        MAX_UPLOAD_SIZE: "512M",
        CLEANUP_ENABLED: "true",
        CLEANUP_DELAY: "60",
        SHUTDOWN_GRACE: "5",
        LOG_LEVEL: "DEBUG",
        LOG_FORMAT: "json",
        PYTHON_BIN: "/opt/pixyz/python",
      },
    });
    expect(config).toMatchObject({
      host: "127.0.0.1",
      port: 9000,
      dataDir: "/tmp/pxs-data",
      godPasswordSha256: HASH,
      processDir: resolve("./my-processes"),
      slots: { cpu: 4, gpu: 1, gpuhigh: 0 },
      defaultTimeLimitS: 600,
      retryTimeLimitS: 1200,
      maxMemoryKb: 2048,
      maxUploadBytes: 512 * 1024 ** 2,
      cleanupEnabled: true,
      cleanupDelayS: 60,
      cleanupCron: "0 */10 * * * *",
      shutdownGraceS: 5,
      logLevel: "debug",
      logFormat: "json",
      pythonBin: "/opt/pixyz/python",
    });
  });

  test("MAX_MEMORY_USAGE_<QUEUE> limits that queue; an empty one leaves MAX_MEMORY_USAGE in force", () => {
    const config = loadConfig({
      env: {
        MAX_MEMORY_USAGE: "1000",
        MAX_MEMORY_USAGE_GPUHIGH: "0",
        MAX_MEMORY_USAGE_GPU: " ",
        MAX_MEMORY_USAGE_WINE: "5",
      },
    });
    expect(config.maxMemoryKb).toBe(1000);
    expect(config.maxMemoryKbByQueue).toEqual({ gpuhigh: 0, wine: 5 });
  });

  test("an uppercase GOD_PASSWORD_SHA256 is kept lowercase", () => {
    expect(loadConfig({ env: { GOD_PASSWORD_SHA256: HASH.toUpperCase() } }).godPasswordSha256).toBe(HASH);
  });

  test("the original's LOGLEVEL spelling is read too", () => {
    expect(loadConfig({ env: { LOGLEVEL: "warn" } }).logLevel).toBe("warn");
  });

  test.each([
    ["1048576", 1048576],
    ["512M", 512 * 1024 ** 2],
    ["512m", 512 * 1024 ** 2],
    ["10G", 10 * 1024 ** 3],
    ["64kb", 64 * 1024],
    ["2GiB", 2 * 1024 ** 3],
    ["1 T", 1024 ** 4],
  ])("MAX_UPLOAD_SIZE=%s is %d bytes", (raw, expected) => {
    expect(loadConfig({ env: { MAX_UPLOAD_SIZE: raw } }).maxUploadBytes).toBe(expected);
  });

  test.each([
    ["cpu:2", { cpu: 2 }],
    [" cpu : 4 , gpu:1 ", { cpu: 4, gpu: 1 }],
    ["cpu:0,gpuhigh:2", { cpu: 0, gpuhigh: 2 }],
  ])("SLOTS=%s parses", (raw, expected) => {
    expect(loadConfig({ env: { SLOTS: raw } }).slots).toEqual(expected);
  });

  test.each([
    ["1", true],
    ["yes", true],
    ["ON", true],
    ["0", false],
    ["no", false],
    ["False", false],
  ])("CLEANUP_ENABLED=%s is %p", (raw, expected) => {
    expect(loadConfig({ env: { CLEANUP_ENABLED: raw } }).cleanupEnabled).toBe(expected);
  });
});

describe("flags", () => {
  test("win over the environment, and share its names", () => {
    const config = loadConfig({
      env: { API_PORT: "9000", DATA_DIR: "/tmp/from-env", LOG_LEVEL: "error", SLOTS: "cpu:1" },
      flags: { port: "9001", "data-dir": "/tmp/from-flag", "log-level": "debug", slots: "cpu:3" },
    });
    expect(config).toMatchObject({
      port: 9001,
      dataDir: "/tmp/from-flag",
      logLevel: "debug",
      slots: { cpu: 3 },
    });
  });

  test("an absent flag leaves the environment's value, an unknown flag is ignored", () => {
    const config = loadConfig({ env: { API_PORT: "9000" }, flags: { port: undefined, colour: "red" } });
    expect(config.port).toBe(9000);
  });

  test("a bad flag value is reported under its setting's name", () => {
    expect(configError({}, { port: "abc" }).message).toContain("API_PORT");
  });
});

describe("the config file", () => {
  test("KEY=VALUE lines with comments, blank lines, quotes and export", () => {
    const path = configFile(`# pixyz-scheduler.conf
API_PORT=9100

  # an indented comment
DATA_DIR="/tmp/with space"
LOG_LEVEL='debug'
export LOG_FORMAT=json
GOD_PASSWORD_SHA256 = ${HASH}
PYTHON_BIN="/opt/it's/python"
`);
    const config = loadConfig({ env: {}, configFile: path });
    expect(config).toMatchObject({
      port: 9100,
      dataDir: "/tmp/with space",
      logLevel: "debug",
      logFormat: "json",
      godPasswordSha256: HASH,
      pythonBin: "/opt/it's/python",
    });
  });

  test("Windows line endings are read", () => {
    const path = configFile("API_PORT=9101\r\nLOG_LEVEL=warn\r\n");
    expect(loadConfig({ env: {}, configFile: path })).toMatchObject({ port: 9101, logLevel: "warn" });
  });

  test("the environment wins over the file, and flags over both", () => {
    const path = configFile("API_PORT=9100\nLOG_LEVEL=debug\nSLOTS=cpu:1\n");
    const config = loadConfig({
      env: { API_PORT: "9200", LOG_LEVEL: "warn" },
      flags: { "log-level": "error" },
      configFile: path,
    });
    expect(config).toMatchObject({ port: 9200, logLevel: "error", slots: { cpu: 1 } });
  });

  test("PIXYZ_CONFIG_FILE in the environment names the file", () => {
    const path = configFile("API_PORT=9300\n");
    expect(loadConfig({ env: { PIXYZ_CONFIG_FILE: path } }).port).toBe(9300);
  });

  test("a bad value in the file is reported under its setting's name", () => {
    const path = configFile("API_PORT=eighty\n");
    expect(() => loadConfig({ env: {}, configFile: path })).toThrow(/API_PORT/);
  });

  test("a line that is not KEY=VALUE is refused with the file and the line number", () => {
    const path = configFile("API_PORT=9100\n# fine\nthis is not a setting\n");
    expect(() => loadConfig({ env: {}, configFile: path })).toThrow(ConfigError);
    expect(() => loadConfig({ env: {}, configFile: path })).toThrow(`${path} line 3`);
  });

  test("a missing file is a ConfigError naming it", () => {
    const path = join(dir(), "missing.conf");
    expect(() => loadConfig({ env: {}, configFile: path })).toThrow(ConfigError);
    expect(() => loadConfig({ env: {}, configFile: path })).toThrow(path);
  });
});

describe("a bad value throws a ConfigError naming the variable", () => {
  test.each([
    ["API_PORT", "abc"],
    ["API_PORT", "70000"],
    ["API_PORT", "-1"],
    ["API_PORT", "80.5"],
    ["CLEANUP_ENABLED", "maybe"],
    ["CLEANUP_DELAY", "soon"],
    ["GOD_PASSWORD_SHA256", "short"],
    ["GOD_PASSWORD_SHA256", "z".repeat(64)],
    ["SLOTS", "cpu"],
    ["SLOTS", "cpu:2,GPU:1"],
    ["SLOTS", "cpu:-1"],
    ["MAX_UPLOAD_SIZE", "lots"],
    ["MAX_UPLOAD_SIZE", "0"],
    ["MAX_UPLOAD_SIZE", "10X"],
    ["MAX_MEMORY_USAGE", "1.5"],
    ["PIXYZ_TIME_LIMIT", "0"],
    ["PIXYZ_RETRY_TIME_LIMIT", "forever"],
    ["SHUTDOWN_GRACE", "-5"],
    ["LOG_LEVEL", "loud"],
    ["LOG_FORMAT", "xml"],
  ])("%s=%s", (name, value) => {
    const error = configError({ [name]: value });
    expect(error.message).toContain(name);
    expect(error.message).toStartWith("invalid ");
    expect(error.message).not.toContain("\n");
  });

  test("the message quotes the bad value and says what would be valid", () => {
    expect(configError({ API_PORT: "70000" }).message).toBe(
      "invalid API_PORT: expected an integer from 0 to 65535, got '70000'",
    );
    expect(configError({ LOG_LEVEL: "loud" }).message).toBe(
      "invalid LOG_LEVEL: expected one of debug, info, warn, error, got 'loud'",
    );
  });

  test("a bad GOD_PASSWORD_SHA256 is not echoed back (it may be a secret pasted by mistake)", () => {
    const message = configError({ GOD_PASSWORD_SHA256: "my-secret-token" }).message;
    expect(message).toContain("GOD_PASSWORD_SHA256");
    expect(message).not.toContain("my-secret-token");
  });
});

describe("the command line, as a real process", () => {
  function cli(args: string[], env: Record<string, string> = {}) {
    const child = Bun.spawnSync([process.execPath, "src/cli/main.ts", ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env },
      stdout: "pipe",
      stderr: "pipe",
      timeout: 30000,
    });
    return { code: child.exitCode, stdout: child.stdout.toString(), stderr: child.stderr.toString() };
  }

  test("serve with API_PORT=abc exits 2 with one line on stderr naming API_PORT, and writes nothing", () => {
    const dataDir = dir();
    const { code, stdout, stderr } = cli(["serve"], { API_PORT: "abc", DATA_DIR: dataDir });
    expect(code).toBe(2);
    const lines = stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("API_PORT");
    expect(lines[0]).toContain("'abc'");
    expect(stdout).toBe("");
    expect(readdirSync(dataDir)).toEqual([]);
  });

  test("serve with a bad flag value exits 2 naming the setting", () => {
    const { code, stderr } = cli(["serve", "--port", "70000", "--data-dir", dir()]);
    expect(code).toBe(2);
    expect(stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(stderr).toContain("API_PORT");
  });

  test("serve with an unknown option exits 2 with one line", () => {
    const { code, stderr } = cli(["serve", "--colour", "red"]);
    expect(code).toBe(2);
    expect(stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(stderr).toContain("colour");
  });

  test("version prints the package.json version", () => {
    const { code, stdout, stderr } = cli(["version"]);
    expect(code).toBe(0);
    expect(stdout).toBe(`${pkg.version}\n`);
    expect(stderr).toBe("");
    expect(cli(["--version"]).stdout).toBe(`${pkg.version}\n`);
  });

  test("an unknown command exits 2 with one line naming it", () => {
    const { code, stdout, stderr } = cli(["frobnicate"]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    const lines = stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("unknown command 'frobnicate'");
  });
});
