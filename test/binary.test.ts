// Smoke test of the compiled binary, alone in an empty folder: it starts, migrates a fresh data
// folder, runs a built-in process and a custom script, serves its docs offline and stops on SIGTERM.
// CI builds dist/pixyz-scheduler first and passes it as PIXYZ_BINARY; otherwise one is built here.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { scriptFile, tempDir } from "./helpers/daemon.ts";
import { OBJ_CUBE, readPng, stepBox } from "./helpers/models.ts";
import { type ServeProcess, startServeProcess } from "./helpers/serve-process.ts";

// bunfig.toml's [test] timeout is not read by bun 1.4.5: without this, tests get 5 s.
setDefaultTimeout(30_000);

const root = join(import.meta.dir, "..");
const work = tempDir("pxs-binary-");
// The binary sits alone in a fresh folder: no node_modules, no sources, no bunfig anywhere around it.
const binary = join(work, "bin", "pixyz-scheduler");
const dataDir = join(work, "data");
// Only what a bare service manager would give it.
const env = { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: work, LANG: "C.UTF-8" };

beforeAll(async () => {
  let source = process.env.PIXYZ_BINARY;
  if (source) {
    if (!existsSync(source)) throw new Error(`PIXYZ_BINARY=${source} does not exist`);
  } else {
    source = join(work, "build", "pixyz-scheduler");
    const build = Bun.spawnSync([process.execPath, join(root, "scripts/build.ts"), source], {
      cwd: root,
      stdout: "pipe",
      stderr: "pipe",
    });
    if (build.exitCode !== 0) {
      throw new Error(`scripts/build.ts failed (${build.exitCode}):\n${build.stdout}\n${build.stderr}`);
    }
  }
  mkdirSync(join(work, "bin"), { recursive: true });
  copyFileSync(source, binary);
  chmodSync(binary, 0o755);
}, 180_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

test("`version` prints the package version", () => {
  const run = Bun.spawnSync([binary, "version"], { cwd: work, env, stdout: "pipe", stderr: "pipe" });
  expect(run.exitCode).toBe(0);
  expect(run.stdout.toString().trim()).toBe(pkg.version);
  const help = Bun.spawnSync([binary, "no-such-command"], { cwd: work, env, stdout: "pipe", stderr: "pipe" });
  expect(help.exitCode).toBe(2);
  expect(help.stderr.toString()).toContain("unknown command 'no-such-command'");
});

describe("serve", () => {
  let daemon: ServeProcess | null = null;
  afterAll(() => {
    if (daemon && daemon.proc.exitCode === null) daemon.proc.kill("SIGKILL");
  });

  test("starts on an empty data folder, runs jobs, serves its docs, and exits 0 on SIGTERM", async () => {
    daemon = await startServeProcess([binary], { dataDir, cwd: work, env, inheritEnv: false });
    const d = daemon;
    const welcome = await fetch(`${d.url}/`);
    expect(welcome.status).toBe(200);
    expect(await welcome.text()).toBe(`Welcome to PiXYZ API v${pkg.version}!`);
    expect(readdirSync(dataDir)).toEqual(expect.arrayContaining(["jobs.sqlite", "jobs", "runtime"]));
    // Started without it, the daemon replaced itself (same pid) to run with the top JIT tier off.
    const daemonEnv = readFileSync(`/proc/${d.proc.pid}/environ`, "latin1").split("\0");
    expect(daemonEnv).toContain("BUN_JSC_useFTLJIT=0");
    expect(await (await fetch(`${d.url}/processes`)).json()).toEqual({
      processes: [
        "api_test",
        "convert_file",
        "generate_metadata",
        "generate_thumbnails",
        "sleep",
        "thumbnail_chained",
      ],
    });
    expect((await d.api("/jobs", { auth: false })).status).toBe(401);

    const sleepRes = await d.submit({ process: "sleep", params: JSON.stringify({ duration: 0.1 }) });
    const sleepBody = (await sleepRes.json()) as { uuid: string };
    expect({ status: sleepRes.status, body: sleepBody }).toMatchObject({ status: 200 });
    const sleep = sleepBody.uuid;
    const customRes = await d.submit({
      script: scriptFile(`
        import type { Ctx } from "pixyz-scheduler/sdk";
        export async function main(ctx: Ctx, params: { factor: number }) {
          ctx.progress.total(1);
          ctx.progress.next("double");
          const text: string = await Bun.file(ctx.inputFile()!).text();
          const doubled = text.split(",").map((n) => Number(n) * params.factor);
          await Bun.write(ctx.outputDir("doubled.txt"), doubled.join(","));
          return { doubled, runtime: typeof Bun.version, ftl: process.env.BUN_JSC_useFTLJIT ?? null };
        }`),
      file: new File(["1,2,3"], "numbers.csv"),
      params: JSON.stringify({ factor: 2 }),
    });
    const customBody = (await customRes.json()) as { uuid: string };
    expect({ status: customRes.status, body: customBody }).toMatchObject({ status: 200 });
    const custom = customBody.uuid;

    expect(await d.waitFor(sleep)).toMatchObject({
      status: "SUCCESS",
      result: { sleep: 0.1 },
      progress: 100,
    });
    const customDone = await d.waitFor(custom);
    expect(customDone).toMatchObject({
      status: "SUCCESS",
      result: { doubled: [2, 4, 6], runtime: "string", ftl: null },
      steps: [{ info: "double" }],
    });
    const output = await d.api(`/jobs/${custom}/outputs/doubled.txt`);
    expect(output.status).toBe(200);
    expect(await output.text()).toBe("2,4,6");

    const spec = (await (await fetch(`${d.url}/openapi.json`)).json()) as {
      info: { title: string; version: string };
      paths: Record<string, unknown>;
    };
    expect(spec.info).toMatchObject({ title: "PiXYZ API", version: pkg.version });
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(["/jobs", "/jobs/{uuid}/details"]));
    for (const [page, asset] of [
      ["/docs", "/docs/assets/swagger-ui-bundle.js"],
      ["/docs", "/docs/assets/swagger-ui.css"],
      ["/redoc", "/redoc/assets/redoc.standalone.js"],
    ] as const) {
      const html = await fetch(`${d.url}${page}`);
      expect(html.status).toBe(200);
      expect(await html.text()).toContain(asset);
      const res = await fetch(`${d.url}${asset}`);
      expect(res.status).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(50_000);
    }

    const stoppedAt = Date.now();
    d.proc.kill("SIGTERM");
    const exited = await Promise.race([d.proc.exited, Bun.sleep(15_000).then(() => "still running")]);
    expect(exited).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(15_000);
    expect(d.log()).toContain("stopped");
  }, 60_000);

  test("starts again on the data folder it left, with its jobs", async () => {
    // The processes' libraries (12 MB) are this build's already: kept, not written again.
    const wasm = join(dataDir, "runtime", "process", "lib", "occt-import-js.wasm");
    const written = statSync(wasm);
    daemon = await startServeProcess([binary], { dataDir, cwd: work, env, inheritEnv: false });
    expect([statSync(wasm).ino, statSync(wasm).mtimeMs]).toEqual([written.ino, written.mtimeMs]);
    const list = (await (await daemon.api("/jobs")).json()) as { jobs: { status: string }[] };
    expect(list.jobs.map((j) => j.status)).toEqual(["SUCCESS", "SUCCESS"]);
    daemon.proc.kill("SIGTERM");
    expect(await daemon.proc.exited).toBe(0);
  }, 60_000);
});

describe("the 3D processes", () => {
  let daemon: ServeProcess | null = null;
  afterAll(() => {
    if (daemon && daemon.proc.exitCode === null) daemon.proc.kill("SIGKILL");
  });

  test("convert_file and generate_thumbnails run from the binary alone (bundled libraries, wasm written at start)", async () => {
    daemon = await startServeProcess([binary], {
      dataDir: join(work, "data-3d"),
      cwd: work,
      env,
      inheritEnv: false,
    });
    const d = daemon;
    expect(readdirSync(join(work, "data-3d", "runtime", "process", "lib")).sort()).toEqual([
      "assimpjs.wasm",
      "occt-import-js.wasm",
      "three-d.js",
    ]);
    const submit = async (fields: Record<string, string | File>) => {
      const res = await d.submit(fields);
      expect(res.status).toBe(200);
      return ((await res.json()) as { uuid: string }).uuid;
    };
    const [convert, thumbnails] = await Promise.all([
      submit({ process: "convert_file", file: new File([stepBox(100, 50, 20)], "box.step"), params: "{}" }),
      submit({
        process: "generate_thumbnails",
        file: new File([OBJ_CUBE], "cube.obj"),
        params: JSON.stringify({ width: 64, height: 48 }),
      }),
    ]);
    expect(await d.waitFor(convert)).toMatchObject({ status: "SUCCESS", result: { output: "output.glb" } });
    const glb = new Uint8Array(await (await d.api(`/jobs/${convert}/outputs/output.glb`)).arrayBuffer());
    expect(new TextDecoder().decode(glb.subarray(0, 4))).toBe("glTF");
    expect(await d.waitFor(thumbnails)).toMatchObject({
      status: "SUCCESS",
      result: { preview: { file: "preview.glb", size: "64x48" }, metadata: { polygon_count: 12 } },
    });
    const iso = readPng(
      new Uint8Array(await (await d.api(`/jobs/${thumbnails}/outputs/iso.png`)).arrayBuffer()),
    );
    expect([iso.width, iso.height, iso.pixels[(24 * 64 + 32) * 4 + 3]]).toEqual([64, 48, 255]);
    d.proc.kill("SIGTERM");
    expect(await d.proc.exited).toBe(0);
  }, 60_000);
});
