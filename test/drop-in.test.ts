// A default install on a CPU-only machine serves every queue of the original, so its tutorials'
// orchestration patterns run unchanged: a control job with a chord of gpu children, a chain across
// cpu, gpu, zip and control. The scripts are written in the original's style (pixyz_worker, the
// celery canvas) and submitted as its client does (multipart: script, params, config).

import { afterEach, describe, expect, test } from "bun:test";
import { crc32 } from "node:zlib";
import { scriptFile, startTestDaemon, type TestDaemon } from "./helpers/daemon.ts";

let daemon: TestDaemon | null = null;
afterEach(async () => {
  await daemon?.close();
  daemon = null;
});

const uuidOf = async (res: Response) => {
  expect(res.status).toBe(200);
  return ((await res.json()) as { uuid: string }).uuid;
};

interface Attempt {
  queue: string;
  slot: string;
  note: string | null;
  cause: string;
}
type Details = Record<string, unknown> & { attempts: Attempt[]; children: string[] };

const PARTS = ["alpha", "beta", "gamma", "delta"];

/** The original's sync DAG tutorial, in its style: a control job, a chord of 4 subtasks (gpu by default), a merge. */
const CHORD = `from pixyz_worker.script import *
from celery import chord
from celery.result import allow_join_result
import zlib


def subtask(pc, params):
    return {'crc32': zlib.crc32(params['part'].encode())}


def merge_result(pc, params):
    return {'crc32': sum(x['result']['crc32'] for x in params)}


@pixyz_schedule(queue='control')
def main(pc, params):
    tasks = [pixyz_execute.s({'part': p}, pc.clone().update(entrypoint='subtask')) for p in params['parts']]
    result = chord(tasks)(pixyz_execute.s(pc=pc.clone().update(entrypoint='merge_result')))
    with allow_join_result():
        return result.get()
`;

/** A 5-step chain across the original's queues, each step adding where it ran. */
const CHAIN = `from pixyz_worker.script import *
from celery import chain
from celery.result import allow_join_result


def step(pc, params):
    return {'path': params['path'] + [pc['queue']]}


@pixyz_schedule(queue='control')
def main(pc, params):
    queues = ['cpu', 'gpu', 'cpu', 'zip', 'control']
    first = pixyz_execute.s({'path': []}, pc.clone().update(entrypoint='step', raw=True)).set(queue=queues[0])
    rest = [pixyz_execute.s(pc=pc.clone().update(entrypoint='step', raw=True)).set(queue=q) for q in queues[1:]]
    result = chain(first, *rest)()
    with allow_join_result():
        return result.get()


def main_async(pc, params):
    queues = ['cpu', 'gpu', 'cpu', 'zip', 'control']
    first = pixyz_execute.s({'path': []}, pc.clone().update(entrypoint='step', raw=True)).set(queue=queues[0])
    rest = [pixyz_execute.s(pc=pc.clone().update(entrypoint='step', raw=True)).set(queue=q) for q in queues[1:]]
    return chain(first, *rest)().as_tuple()
`;

const details = async (d: TestDaemon, uuid: string) =>
  (await (await d.api(`/jobs/${uuid}/details`)).json()) as Details;

describe("a default daemon on a CPU-only machine", () => {
  test("a control job's chord of 4 gpu children and its merge end SUCCESS with the merged value", async () => {
    daemon = await startTestDaemon({ SLOTS: "" }); // the machine's own slots, as a default install
    const slots = (await (await daemon.api("/slots")).json()) as { slots: { id: string; kind: string }[] };
    expect(slots.slots.filter((s) => s.kind === "control").length).toBe(4);
    const uuid = await uuidOf(
      await daemon.submit({
        script: scriptFile(CHORD, "dag_sync.py"),
        params: JSON.stringify({ parts: PARTS }),
      }),
    );
    const done = await daemon.waitFor(uuid, undefined, 60000);
    expect(done.status).toBe("SUCCESS");
    const expected = PARTS.reduce((sum, p) => sum + crc32(Buffer.from(p)), 0);
    expect((done.result as { result: { crc32: number } }).result.crc32).toBe(expected);

    const parent = await details(daemon, uuid);
    expect(parent.attempts[0]).toMatchObject({
      queue: "control",
      slot: expect.stringMatching(/^control-\d$/),
    });
    expect(parent.children.length).toBe(5); // 4 subtasks and the merge
    for (const child of parent.children) {
      const c = await details(daemon, child);
      expect(c.status).toBe("SUCCESS");
      expect(c.attempts[0]!.queue).toBe("gpu");
      expect(c.attempts[0]!.slot).toMatch(/^cpu-\d+$/);
      expect(c.attempts[0]!.note).toBe("no GPU here: ran on cpu");
    }
  }, 90000);

  test("a chain cpu -> gpu -> cpu -> zip -> control ends SUCCESS; each step's attempt names its slot and the fallback", async () => {
    daemon = await startTestDaemon({ SLOTS: "" });
    const uuid = await uuidOf(await daemon.submit({ script: scriptFile(CHAIN, "chain.py") }));
    const done = await daemon.waitFor(uuid, undefined, 60000);
    expect(done.status).toBe("SUCCESS");
    expect(done.result).toEqual({ path: ["cpu", "gpu", "cpu", "zip", "control"] });
    const parent = await details(daemon, uuid);
    const steps = await Promise.all(parent.children.map((c) => details(daemon!, c)));
    const seen = steps.map((s) => [
      s.attempts[0]!.queue,
      s.attempts[0]!.slot.replace(/\d+$/, "N"),
      s.attempts[0]!.note,
    ]);
    expect(seen).toEqual([
      ["cpu", "cpu-N", null],
      ["gpu", "cpu-N", "no GPU here: ran on cpu"],
      ["cpu", "cpu-N", null],
      ["zip", "control-N", null],
      ["control", "control-N", null],
    ]);
  }, 90000);

  test("the async chain returns the original's tuple; every id in it is pollable at /jobs/{uuid} until SUCCESS", async () => {
    daemon = await startTestDaemon({ SLOTS: "" });
    const uuid = await uuidOf(
      await daemon.submit({
        script: scriptFile(CHAIN, "chain.py"),
        config: JSON.stringify({ entrypoint: "main_async" }),
      }),
    );
    const done = await daemon.waitFor(uuid, undefined, 60000);
    expect(done.status).toBe("SUCCESS");
    const ids = [
      ...JSON.stringify(done.result).matchAll(
        /[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}/g,
      ),
    ].map((m) => m[0]);
    expect(new Set(ids).size).toBe(5);
    for (const id of new Set(ids))
      expect((await daemon.waitFor(id, ["SUCCESS"], 60000)).status).toBe("SUCCESS");
  }, 90000);

  test("with GPU_FALLBACK=wait a gpu child waits, and its wait_reason says why", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:2", GPU_FALLBACK: "wait" });
    const uuid = await uuidOf(
      await daemon.submit({
        script: scriptFile(CHORD, "dag_sync.py"),
        params: JSON.stringify({ parts: PARTS }),
      }),
    );
    let children: string[] = [];
    for (let i = 0; i < 400 && children.length < 4; i++) {
      children = (await details(daemon, uuid)).children;
      if (children.length < 4) await Bun.sleep(50);
    }
    expect(children.length).toBeGreaterThanOrEqual(4); // the 4 subtasks (the merge may be asked for already)
    const child = await details(daemon, children[0]!);
    expect(child.status).toBe("PENDING");
    expect(child.wait_reason).toContain("No slot on this node serves queue 'gpu'");
    expect(child.wait_reason).toContain("GPU_FALLBACK=cpu");
    expect((await daemon.api(`/jobs/${uuid}`, { method: "DELETE" })).status).toBe(200);
  }, 60000);

  test("control jobs never take a compute slot: 4 parents wait on their children while 2 cpu slots run them", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:2" });
    const parent = `from pixyz_worker.script import *
from celery.result import allow_join_result
import time


def work(pc, params):
    time.sleep(1.5)  # long enough that the 4 parents all wait at once, even on a loaded machine
    return params['n']


@pixyz_schedule(queue='control')
def main(pc, params):
    r = pixyz_execute.s({'n': params['n']}, pc.clone().update(entrypoint='work', raw=True)).set(queue='cpu').apply_async()
    with allow_join_result():
        return r.get()
`;
    const ids: string[] = [];
    for (let n = 0; n < 4; n++) {
      ids.push(
        await uuidOf(
          await daemon.submit({ script: scriptFile(parent, "parent.py"), params: JSON.stringify({ n }) }),
        ),
      );
    }
    const parents = new Set(ids);
    // A moment when all 4 parents were running (a parked one shows on no slot: its slot is lent out)
    // while the 2 cpu slots ran their children.
    let sawAllWaiting = false;
    const d = daemon;
    const watch = (async () => {
      for (let i = 0; i < 400; i++) {
        const view = (await (await d.api("/slots")).json()) as {
          slots: { id: string; kind: string; job: string | null }[];
        };
        for (const slot of view.slots) {
          // A parent never sits on a compute slot.
          if (slot.kind === "compute" && slot.job) expect(parents.has(slot.job)).toBe(false);
        }
        const children = view.slots.filter((s) => s.kind === "compute" && s.job).length;
        const statuses = await Promise.all(ids.map(async (id) => (await details(d, id)).status));
        if (statuses.every((s) => s === "STARTED") && children === 2) sawAllWaiting = true;
        if (statuses.every((s) => s === "SUCCESS")) return;
        await Bun.sleep(25);
      }
    })();
    for (const [n, id] of ids.entries()) {
      const done = await daemon.waitFor(id, undefined, 60000);
      expect(done.status).toBe("SUCCESS");
      expect(done.result).toBe(n);
    }
    await watch;
    expect(sawAllWaiting).toBe(true);
  }, 90000);
});
