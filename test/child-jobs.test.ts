// Child jobs (the original's chain, group and chord) through ctx.spawn / ctx.wait, with real jobs.
import { afterEach, describe, expect, test } from "bun:test";
import { scriptFile, startTestDaemon, type TestDaemon } from "./helpers/daemon.ts";
import { eventually } from "./helpers/procs.ts";

let daemon: TestDaemon | null = null;
afterEach(async () => {
  await daemon?.close();
  daemon = null;
});

const uuidOf = async (res: Response) => ((await res.json()) as { uuid: string }).uuid;

const WORKFLOW = `
export async function main(ctx, params) {
  if (params.mode === "chain") {
    const imported = await (await ctx.spawn({ entrypoint: "importStep", queue: "cpu", params: { file: "a.step" } })).result();
    const rendered = await (await ctx.spawn({ entrypoint: "render", queue: "gpu", params: imported })).result();
    return rendered;
  }
  if (params.mode === "chord") {
    const parts = [];
    for (let i = 0; i < 4; i++) parts.push(await ctx.spawn({ entrypoint: "crc", params: { part: i }, name: "part " + i }));
    const outcomes = await ctx.wait(parts);
    const join = await ctx.spawn({ entrypoint: "merge", params: { values: outcomes.map((o) => o.result.crc) } });
    return { statuses: outcomes.map((o) => o.status), merged: await join.result() };
  }
  if (params.mode === "catch") {
    const child = await ctx.spawn({ entrypoint: "broken" });
    try { await child.result(); return { caught: null }; } catch (error) { return { caught: error.name, message: error.message }; }
  }
  if (params.mode === "long") {
    await ctx.spawn({ entrypoint: "sleepy", name: "long child" });
    await ctx.spawn({ entrypoint: "sleepy", name: "long child 2" });
    await Bun.sleep(60000);
  }
}
export async function importStep(ctx, params) { return { imported: params.file, onQueue: ctx.queue }; }
export async function render(ctx, params) {
  return { ...params, thumbs: ["iso.png"], renderedOn: ctx.queue, cuda: process.env.CUDA_VISIBLE_DEVICES ?? null };
}
export async function crc(ctx, params) { await Bun.sleep(50); return { crc: params.part * 10 + 1 }; }
export async function merge(ctx, params) { return params.values.reduce((a, b) => a + b, 0); }
export async function broken() { throw new TypeError("no geometry in this part"); }
export async function sleepy() { await Bun.sleep(60000); }
`;

describe("child jobs", () => {
  test("a chain cpu -> gpu passes each result to the next step; children are real, listed jobs", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1,gpu:1" });
    const parent = await uuidOf(
      await daemon.submit({ script: scriptFile(WORKFLOW), params: '{"mode":"chain"}' }),
    );
    const details = await daemon.waitFor(parent);
    expect(details.status).toBe("SUCCESS");
    expect(details.result).toEqual({
      imported: "a.step",
      onQueue: "cpu",
      thumbs: ["iso.png"],
      renderedOn: "gpu",
      cuda: null,
    });
    const children = details.children as string[];
    expect(children).toHaveLength(2);
    for (const child of children) {
      const c = (await (await daemon.api(`/jobs/${child}/details`)).json()) as Record<string, unknown>;
      expect(c).toMatchObject({ status: "SUCCESS", parent });
    }
    const listed = ((await (await daemon.api("/jobs")).json()) as { jobs: { uuid: string }[] }).jobs.map(
      (j) => j.uuid,
    );
    expect(listed).toEqual(expect.arrayContaining([parent, ...children]));
  });

  test("a group of 4 and a join step, with a single slot held by the waiting parent: the work still finishes", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1" });
    const parent = await uuidOf(
      await daemon.submit({ script: scriptFile(WORKFLOW), params: '{"mode":"chord"}' }),
    );
    const details = await daemon.waitFor(parent, undefined, 30000);
    expect(details.status).toBe("SUCCESS");
    expect(details.result).toEqual({
      statuses: ["SUCCESS", "SUCCESS", "SUCCESS", "SUCCESS"],
      merged: 1 + 11 + 21 + 31,
    });
    expect(details.children as string[]).toHaveLength(5);
  });

  test("every slot busy with waiting parents: their children still run", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:2" });
    const parents = [];
    for (let i = 0; i < 4; i++) {
      parents.push(
        await uuidOf(await daemon.submit({ script: scriptFile(WORKFLOW), params: '{"mode":"chord"}' })),
      );
    }
    for (const parent of parents)
      expect((await daemon.waitFor(parent, undefined, 60000)).status).toBe("SUCCESS");
  });

  test("a child's failure reaches the parent as an error it can catch", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1" });
    const parent = await uuidOf(
      await daemon.submit({ script: scriptFile(WORKFLOW), params: '{"mode":"catch"}' }),
    );
    const details = await daemon.waitFor(parent);
    expect(details.status).toBe("SUCCESS");
    expect(details.result).toMatchObject({ caught: "ChildJobError" });
    expect((details.result as { message: string }).message).toContain(
      "FAILURE: TypeError: no geometry in this part",
    );
  });

  test("an invalid child request is an error in the parent, not a crash", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1" });
    const source = `export async function main(ctx) {
      const errors = [];
      for (const spec of [{ entrypoint: "missing" }, { process: "nope" }, { queue: "BAD!" }]) {
        try { await ctx.spawn(spec); } catch (error) { errors.push(error.message); }
      }
      return errors;
    }`;
    const parent = await uuidOf(await daemon.submit({ script: scriptFile(source) }));
    const details = await daemon.waitFor(parent);
    expect(details.status).toBe("SUCCESS");
    const errors = details.result as string[];
    expect(errors[0]).toContain("does not have the function missing");
    expect(errors[1]).toContain("Invalid process 'nope'");
    expect(errors[2]).toContain("queue");
  });

  test("cancelling the parent cancels its unfinished children", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:2" });
    const parent = await uuidOf(
      await daemon.submit({ script: scriptFile(WORKFLOW), params: '{"mode":"long"}' }),
    );
    let children: string[] = [];
    await eventually(() => false, 100);
    for (let i = 0; i < 100 && children.length < 2; i++) {
      children = ((await (await daemon.api(`/jobs/${parent}/details`)).json()) as { children: string[] })
        .children;
      await Bun.sleep(50);
    }
    expect(children).toHaveLength(2);
    expect((await daemon.api(`/jobs/${parent}`, { method: "DELETE" })).status).toBe(200);
    for (const child of children) expect((await daemon.waitFor(child)).status).toBe("REVOKED");
  });
});

describe("child jobs and inputs", () => {
  test("a child sees its parent's inputs, an extracted archive included", async () => {
    const { zipSync, strToU8 } = await import("fflate");
    daemon = await startTestDaemon({ SLOTS: "cpu:1" });
    const zip = zipSync({
      "asm/Brakes.CATProduct": strToU8("product"),
      "asm/parts/Disc.CATPart": strToU8("part"),
    });
    const source = `
      export async function main(ctx) { return await (await ctx.spawn({ entrypoint: "look" })).result(); }
      export async function look(ctx) {
        const file = ctx.inputFile();
        return { name: file.split("/").pop(), text: await Bun.file(file).text() };
      }`;
    const parent = await uuidOf(
      await daemon.submit({ script: scriptFile(source), file: new File([zip], "brakes.zip") }),
    );
    const details = await daemon.waitFor(parent);
    expect(details.status).toBe("SUCCESS");
    expect(details.result).toEqual({ name: "Brakes.CATProduct", text: "product" });
  });
});
