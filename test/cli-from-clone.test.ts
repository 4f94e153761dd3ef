// The command line as a fresh clone and a copied binary run it: `npx pixyz-scheduler <command>`
// with only Node, npm and node_modules/.bin (no global Bun), and hints that name a command that
// works where they are printed (from source, through npx, or as the compiled binary).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { type Invocation, programName } from "../src/cli/client/program.ts";
import { VERSION } from "../src/version.ts";
import { type CliRun, runProcess } from "./helpers/cli.ts";
import { tempDir } from "./helpers/daemon.ts";

const ROOT = join(import.meta.dir, "..");
const NODE = Bun.which("node");
const NPM = Bun.which("npm");
const NPX = Bun.which("npx");

/** The command a hint names: what follows "Run '" up to the closing quote. */
function hintedCommand(run: CliRun): string {
  const hint = /Run '([^']+)'/.exec(run.stderr);
  if (!hint) throw new Error(`no hint in: ${run.stderr}`);
  return hint[1]!;
}

describe.skipIf(!NODE || !NPM || !NPX)("npx pixyz-scheduler in the clone, without a global Bun", () => {
  let home: string;
  let env: Record<string, string>;
  beforeAll(() => {
    home = tempDir("pxs-npx-");
    // Only node, npm, npx (and the sh npx runs commands with) on the PATH, then the clone's
    // node_modules/.bin, where bun is.
    const bin = join(home, "bin");
    mkdirSync(bin);
    for (const [name, path] of [
      ["node", NODE],
      ["npm", NPM],
      ["npx", NPX],
      ["sh", "/bin/sh"],
    ] as const) {
      symlinkSync(path!, join(bin, name));
    }
    env = {
      HOME: process.env.HOME ?? home,
      PATH: `${bin}:${join(ROOT, "node_modules/.bin")}`,
      // A cache of its own: npx links the clone's package there, as on a fresh machine.
      npm_config_cache: join(home, "npm-cache"),
      npm_config_update_notifier: "false",
      npm_config_fund: "false",
      npm_config_audit: "false",
      npm_config_yes: "true",
    };
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  const npx = (args: string[]) => runProcess(["npx", "pixyz-scheduler", ...args], { cwd: ROOT, env });
  const sh = (command: string) => runProcess(["/bin/sh", "-c", command], { cwd: ROOT, env });

  test("the PATH has no bun of its own", async () => {
    expect(Bun.which("bun", { PATH: env.PATH })).toBe(join(ROOT, "node_modules/.bin/bun"));
  });

  test("npx pixyz-scheduler version prints the version", async () => {
    const run = await npx(["version"]);
    expect(run.stderr).toBe("");
    expect(run.stdout).toBe(`${VERSION}\n`);
    expect(run.code).toBe(0);
  });

  test("its hints name npx pixyz-scheduler, and the commands they name work", async () => {
    const unknown = await npx(["no-such-command"]);
    expect(unknown.code).toBe(2);
    expect(hintedCommand(unknown)).toBe("npx pixyz-scheduler --help");
    const help = await sh(hintedCommand(unknown));
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: npx pixyz-scheduler <command> [options]");

    const badFlag = await npx(["status", "--no-such-flag"]);
    expect(badFlag.code).toBe(2);
    expect(hintedCommand(badFlag)).toBe("npx pixyz-scheduler status --help");
    const statusHelp = await sh(hintedCommand(badFlag));
    expect(statusHelp.code).toBe(0);
    expect(statusHelp.stdout).toContain("Usage: npx pixyz-scheduler status -j UUID");
  });

  test("from source, `bun src/cli/main.ts` (the README's other way) names itself the same way", async () => {
    const run = await runProcess(["npx", "bun", "src/cli/main.ts", "no-such-command"], { cwd: ROOT, env });
    expect(run.code).toBe(2);
    expect(hintedCommand(run)).toBe("npx bun src/cli/main.ts --help");
    expect((await sh(hintedCommand(run))).code).toBe(0);
  });
});

describe("the compiled binary names itself as it was called", () => {
  let dir: string;
  let binary: string;
  beforeAll(async () => {
    dir = tempDir("pxs-bin-name-");
    binary = join(dir, "pixyz-scheduler");
    const build = await runProcess([process.execPath, join(ROOT, "scripts/build.ts"), binary], { cwd: ROOT });
    if (build.code !== 0) throw new Error(`build failed: ${build.stderr}`);
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const bare = (extra: Record<string, string> = {}) => ({ PATH: "/usr/bin:/bin", ...extra });

  test("./pixyz-scheduler, and pixyz-scheduler found on the PATH", async () => {
    const local = await runProcess(["./pixyz-scheduler", "no-such-command"], { cwd: dir, env: bare() });
    expect(hintedCommand(local)).toBe("./pixyz-scheduler --help");
    const onPath = await runProcess(["/bin/sh", "-c", "pixyz-scheduler status --no-such-flag"], {
      cwd: tempDir(),
      env: bare({ PATH: `${dir}:/usr/bin:/bin` }),
    });
    expect(hintedCommand(onPath)).toBe("pixyz-scheduler status --help");
    const help = await runProcess(["/bin/sh", "-c", hintedCommand(onPath)], {
      env: bare({ PATH: `${dir}:/usr/bin:/bin` }),
    });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: pixyz-scheduler status -j UUID");
  });
});

describe("programName", () => {
  const how = (over: Partial<Invocation>): Invocation => ({
    argv: ["bun", "/repo/src/cli/main.ts"],
    argv0: "bun",
    env: {},
    cwd: "/repo",
    onPath: (command) => command === "bun",
    ...over,
  });

  test("from source: the runtime as typed and the script's path from here", () => {
    expect(programName(how({}))).toBe("bun src/cli/main.ts");
    expect(programName(how({ cwd: "/elsewhere" }))).toBe("bun /repo/src/cli/main.ts");
    expect(programName(how({ argv0: "./node_modules/.bin/bun", onPath: () => false }))).toBe(
      "./node_modules/.bin/bun src/cli/main.ts",
    );
    expect(programName(how({ argv: ["bun", "/my repo/src/cli/main.ts"], cwd: "/elsewhere" }))).toBe(
      "bun '/my repo/src/cli/main.ts'",
    );
  });

  test("through npx: npx and what it ran", () => {
    const npxEnv = (script: string) => ({ npm_lifecycle_event: "npx", npm_lifecycle_script: script });
    expect(programName(how({ env: npxEnv("'pixyz-scheduler'") }))).toBe("npx pixyz-scheduler");
    expect(programName(how({ env: npxEnv("bun") }))).toBe("npx bun src/cli/main.ts");
    // `npm start` is not npx: the script's own command line does not count.
    expect(programName(how({ env: { npm_lifecycle_event: "start", npm_lifecycle_script: "bun x" } }))).toBe(
      "bun src/cli/main.ts",
    );
  });

  test("the compiled binary: argv0 as it was typed", () => {
    const compiled = (argv0: string) => how({ argv: ["bun", "/$bunfs/root/pixyz-scheduler"], argv0 });
    expect(programName(compiled("./dist/pixyz-scheduler"))).toBe("./dist/pixyz-scheduler");
    expect(programName(compiled("pixyz-scheduler"))).toBe("pixyz-scheduler");
    expect(programName(compiled(""))).toBe("pixyz-scheduler");
  });

  test("an installed bin link: its name when it is on the PATH", () => {
    const link = how({
      argv: ["bun", "/usr/local/bin/pixyz-scheduler"],
      onPath: (c) => c === "pixyz-scheduler",
    });
    expect(programName(link)).toBe("pixyz-scheduler");
    expect(programName({ ...link, onPath: () => false })).toBe("/usr/local/bin/pixyz-scheduler");
  });
});
