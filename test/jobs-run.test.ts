// End to end through the real API: submit, run as a child process, read the outcome back.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { scriptFile, startTestDaemon, type TestDaemon } from "./helpers/daemon.ts";

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(() => d.close());

describe("a custom TypeScript script", () => {
  test("runs with its input and params, reports steps and result, and its output downloads byte-identical", async () => {
    const source = `
      export async function main(ctx, params) {
        ctx.progress.total(2);
        ctx.progress.next("read input");
        const text = await Bun.file(ctx.inputFile()).text();
        await Bun.sleep(50);
        ctx.progress.next("write output");
        const bytes = new Uint8Array(256 * 1024).map((_, i) => (i * 7 + params.seed) % 256);
        await Bun.write(ctx.outputDir("nested/out.bin"), bytes);
        ctx.log("wrote", bytes.length, "bytes");
        return { length: text.length, seed: params.seed };
      }`;
    const res = await d.submit({
      script: scriptFile(source),
      file: new File(["0123456789"], "model.fbx"),
      params: JSON.stringify({ seed: 3 }),
      name: "first",
    });
    expect(res.status).toBe(200);
    const sent = (await res.json()) as Record<string, unknown>;
    expect(sent).toMatchObject({ name: "first", status: "SENT", progress: null, error: null });
    expect(sent.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const uuid = sent.uuid as string;

    const details = await d.waitFor(uuid);
    expect(details.status).toBe("SUCCESS");
    expect(details.progress).toBe(100);
    expect(details.result).toEqual({ length: 10, seed: 3 });
    const steps = details.steps as { duration: number; info: string }[];
    expect(steps.map((s) => s.info)).toEqual(["read input", "write output"]);
    expect(steps[0]!.duration).toBeGreaterThanOrEqual(0.04);
    expect(steps.every((s) => s.duration >= 0)).toBe(true);
    const timeInfo = details.time_info as Record<string, string>;
    expect(Date.parse(timeInfo.stopped!)).toBeGreaterThanOrEqual(Date.parse(timeInfo.started!));

    const outputs = await (await d.api(`/jobs/${uuid}/outputs`)).json();
    expect(outputs).toEqual({ outputs: ["nested/out.bin"] });
    const download = await d.api(`/jobs/${uuid}/outputs/nested/out.bin`);
    expect(download.status).toBe(200);
    expect(download.headers.get("content-length")).toBe(String(256 * 1024));
    expect(download.headers.get("content-disposition")).toContain('filename="out.bin"');
    const expected = new Uint8Array(256 * 1024).map((_, i) => (i * 7 + 3) % 256);
    expect(new Uint8Array(await download.arrayBuffer())).toEqual(expected);

    const state = await (await d.api(`/jobs/${uuid}`)).json();
    expect(Object.keys(state as object)).toEqual(["uuid", "name", "status", "progress", "error"]);
  });

  test("a thrown error ends in FAILURE with the message and the stack", async () => {
    const source = `
      function deep() { throw new RangeError("the mesh is empty"); }
      export function main() { deep(); }`;
    const { uuid } = (await (await d.submit({ script: scriptFile(source) })).json()) as { uuid: string };
    const details = await d.waitFor(uuid);
    expect(details.status).toBe("FAILURE");
    expect(details.error).toContain("RangeError: the mesh is empty");
    expect(details.error).toContain("at deep");
    const state = (await (await d.api(`/jobs/${uuid}`)).json()) as Record<string, unknown>;
    expect(state.error).toBe("RangeError: the mesh is empty");
  });

  test("the built-in processes run: sleep and api_test", async () => {
    const sleep = (await (await d.submit({ process: "sleep", params: '{"duration": 0.05}' })).json()) as {
      uuid: string;
    };
    const echo = (await (await d.submit({ process: "api_test", params: '{"x": [1, 2]}' })).json()) as {
      uuid: string;
    };
    const sleepDone = await d.waitFor(sleep.uuid);
    expect(sleepDone).toMatchObject({ status: "SUCCESS", result: { sleep: 0.05 }, progress: 100 });
    const echoDone = await d.waitFor(echo.uuid);
    expect(echoDone).toMatchObject({
      status: "SUCCESS",
      result: { output: "Hello World!", params: { x: [1, 2] } },
    });
  });

  // The harness loads a script with require() and falls back to import() when the script's top
  // level really waits: its top level must still run exactly once, to the end.
  test("a script whose top level awaits runs its top level once, to the end", async () => {
    const awaiting = `
      globalThis.topRuns = (globalThis.topRuns ?? 0) + 1;
      await Bun.sleep(30);
      const late = "set after the await";
      export function main(ctx, params) { return { runs: globalThis.topRuns, late, x: params.x }; }`;
    const res = await d.submit({ script: scriptFile(awaiting), params: '{"x": 1}' });
    expect(res.status).toBe(200);
    const done = await d.waitFor(((await res.json()) as { uuid: string }).uuid);
    expect(done.error).toBeNull();
    expect(done.result).toEqual({ runs: 1, late: "set after the await", x: 1 });
  });

  test("a script whose top level throws after an await fails with its own error", async () => {
    const source = `
      await Bun.sleep(20);
      throw new RangeError("the top level failed late");
      export function main() { return "never"; }`;
    const res = await d.submit({ script: scriptFile(source) });
    const done = await d.waitFor(((await res.json()) as { uuid: string }).uuid);
    expect(done.status).toBe("FAILURE");
    expect(done.error).toContain("RangeError: the top level failed late");
    expect(done.error).not.toContain("require() async module");
  });
});

describe("config.compute_only", () => {
  test("reaches the script as ctx.computeOnly (and pc.is_compute_only() in Python)", async () => {
    const ts = await d.submit({
      script: scriptFile("export function main(ctx) { return ctx.computeOnly; }"),
      config: '{"compute_only": true}',
    });
    const py = await d.submit({
      script: new File(
        ["from pixyz_worker.script import *\n\ndef main(pc, params):\n    return pc.is_compute_only()\n"],
        "c.py",
      ),
      config: '{"compute_only": true}',
    });
    const plain = await d.submit({
      script: scriptFile("export function main(ctx) { return ctx.computeOnly; }"),
    });
    for (const [res, expected] of [
      [ts, true],
      [py, true],
      [plain, false],
    ] as const) {
      const { uuid } = (await res.json()) as { uuid: string };
      expect((await d.waitFor(uuid)).result).toBe(expected);
    }
  });
});

describe("GET /backend/get_task_meta/{uuid}", () => {
  test("the original's task meta shape, behind the token; 404 for an unknown job", async () => {
    const ok = (await (await d.submit({ process: "api_test", params: '{"a":1}' })).json()) as {
      uuid: string;
    };
    const bad = (await (
      await d.submit({ script: scriptFile('export function main() { throw new Error("x"); }') })
    ).json()) as {
      uuid: string;
    };
    await d.waitFor(ok.uuid);
    await d.waitFor(bad.uuid);
    const meta = (await (await d.api(`/backend/get_task_meta/${ok.uuid}`)).json()) as Record<string, unknown>;
    expect(Object.keys(meta)).toEqual([
      "status",
      "result",
      "traceback",
      "children",
      "parent_id",
      "task_id",
      "date_done",
    ]);
    expect(meta).toMatchObject({
      status: "SUCCESS",
      result: { output: "Hello World!", params: { a: 1 } },
      traceback: null,
    });
    expect(meta.task_id).toBe(ok.uuid);
    expect(Date.parse(meta.date_done as string)).toBeGreaterThan(0);
    const failed = (await (await d.api(`/backend/get_task_meta/${bad.uuid}`)).json()) as Record<
      string,
      unknown
    >;
    expect(failed.traceback as string).toContain("Error: x");
    expect((await d.api(`/backend/get_task_meta/${ok.uuid}`, { auth: false })).status).toBe(401);
    expect((await d.api("/backend/get_task_meta/0b8e5b9a-2c4d-4f6e-9a1b-3c5d7e9f1a2b")).status).toBe(404);
  });
});
