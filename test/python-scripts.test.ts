// Python scripts of the original, unchanged, under a real daemon with the real python3: the
// pixyz_worker compatibility package, pixyz_schedule, the Celery canvas mapped onto child jobs.
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { declaredSchedule, entrypointDoc, inspectScript, ScriptError } from "../src/scripts/inspect.ts";
import { scriptFile, startTestDaemon, type TestDaemon, tempDir } from "./helpers/daemon.ts";

let daemon: TestDaemon | null = null;
afterEach(async () => {
  await daemon?.close();
  daemon = null;
});

const uuidOf = async (res: Response) => {
  const body = (await res.json()) as { uuid?: string };
  if (!body.uuid) throw new Error(`submission refused: ${JSON.stringify(body)}`);
  return body.uuid;
};
const pyFile = (source: string, name = "script.py") => new File([source], name, { type: "text/x-python" });
const details = async (d: TestDaemon, uuid: string) =>
  (await (await d.api(`/jobs/${uuid}/details`)).json()) as Record<string, unknown>;

// The same job twice: in the original's Python style and in TypeScript.
const PY_CONVERT = `#!/usr/bin/env python3
from pixyz_worker.script import *


def main(pc: ProgramContext, params: dict):
    pc.progress_set_total(3)
    pc.progress_next("Importing file")
    src = pc.get_input_file()
    pc.progress_next("Exporting")
    with open(pc.get_output_dir("output.txt"), "w") as f:
        f.write(open(src).read().upper())
    pc.progress_next("done")
    return {"output": "output.txt", "echo": params}


if __name__ == '__main__':
    LocalPixyzTask.from_commandline(__file__, os.getcwd(), 'main')
`;
const TS_CONVERT = `export async function main(ctx, params) {
  ctx.progress.total(3);
  ctx.progress.next("Importing file");
  const src = ctx.inputFile();
  ctx.progress.next("Exporting");
  await Bun.write(ctx.outputDir("output.txt"), (await Bun.file(src).text()).toUpperCase());
  ctx.progress.next("done");
  return { output: "output.txt", echo: params };
}`;

describe("Python scripts in the original's style", () => {
  test("run to SUCCESS with the same progress, steps, result and outputs as the TS twin", async () => {
    daemon = await startTestDaemon();
    const input = new File(["hello"], "model.txt");
    const params = '{"extension":"glb","n":[1,2]}';
    const py = await uuidOf(await daemon.submit({ script: pyFile(PY_CONVERT), file: input, params }));
    const ts = await uuidOf(await daemon.submit({ script: scriptFile(TS_CONVERT), file: input, params }));
    const [a, b] = [await daemon.waitFor(py), await daemon.waitFor(ts)];
    expect(a.error).toBeNull();
    expect(a.status).toBe("SUCCESS");
    for (const key of ["status", "progress", "result", "retry"]) expect(a[key]).toEqual(b[key]);
    const infos = (d: Record<string, unknown>) => (d.steps as { info: string }[]).map((s) => s.info);
    expect(infos(a)).toEqual(["Importing file", "Exporting", "done"]);
    expect(infos(a)).toEqual(infos(b));
    for (const step of a.steps as { duration: number }[]) expect(step.duration).toBeGreaterThanOrEqual(0);
    expect(a.result).toEqual({ output: "output.txt", echo: { extension: "glb", n: [1, 2] } });
    const outputs = async (uuid: string) =>
      (await (await daemon!.api(`/jobs/${uuid}/outputs`)).json()) as unknown;
    expect(await outputs(py)).toEqual(await outputs(ts));
    const file = await daemon.api(`/jobs/${py}/outputs/output.txt`);
    expect(await file.text()).toBe("HELLO");
  });

  test("pc has the original's keys and methods; progress through pc['progress'] too", async () => {
    daemon = await startTestDaemon();
    const source = `from pixyz_worker.script import *
import os

def main(pc, params):
    pc['progress'].set_total(2)
    pc['progress'].next("first", output={"x": 1}, extra=True)
    pc.progress_start()
    pc['progress'].next()
    pc.progress_stop()
    clone = pc.clone(entrypoint='other', params={'b': 2})
    merged = ProgramContext(params={'a': 1}).update(params={'b': 2}, queue='gpu')
    return {
        'queue': pc['queue'], 'task_id': pc['task_id'], 'script': os.path.basename(pc['script']),
        'root_file': pc['root_file'], 'retry': pc['retry'], 'is_local': pc.is_local(),
        'compute_only': pc.is_compute_only(), 'input': os.path.basename(pc.get_input_file()),
        'input_dir_ok': os.path.isdir(pc.get_input_dir()), 'entrypoint': pc['entrypoint'],
        'clone': [clone['entrypoint'], clone['params'], 'task' in clone],
        'merged': [merged['params'], merged['queue']],
        'isinstance_dict': isinstance(pc, dict),
    }
`;
    const uuid = await uuidOf(
      await daemon.submit({ script: pyFile(source), file: new File(["x"], "part.stp"), params: '{"a":1}' }),
    );
    const d = await daemon.waitFor(uuid);
    expect(d.error).toBeNull();
    expect(d.steps).toEqual([
      { duration: expect.any(Number), info: "first" },
      { duration: expect.any(Number), info: "step 2" },
    ]);
    expect(d.result).toEqual({
      queue: "cpu",
      task_id: uuid,
      script: "script.py",
      root_file: null,
      retry: 0,
      is_local: false,
      compute_only: false,
      input: "part.stp",
      input_dir_ok: true,
      entrypoint: "main",
      clone: ["other", { a: 1, b: 2 }, false],
      merged: [{ a: 1, b: 2 }, "gpu"],
      isinstance_dict: true,
    });
  });

  test("@pixyz_schedule(queue='gpu') routes the job to a gpu slot", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1,gpu:1" });
    const source = `from pixyz_worker.script import *

@pixyz_schedule(queue='gpu', time_limit=600)
def main(pc, params):
    return {'queue': pc['queue']}
`;
    const uuid = await uuidOf(await daemon.submit({ script: pyFile(source) }));
    const d = await daemon.waitFor(uuid);
    expect(d.status).toBe("SUCCESS");
    expect(d.queue).toBe("gpu");
    expect((d.attempts as { queue: string }[])[0]!.queue).toBe("gpu");
    expect(d.result).toEqual({ queue: "gpu" });
  });

  test("a missing module fails the job with the ImportError and its traceback; the daemon goes on", async () => {
    daemon = await startTestDaemon();
    const source = `from pixyz_worker.script import *
import pxz_not_installed_here

def main(pc, params):
    return 1
`;
    const uuid = await uuidOf(await daemon.submit({ script: pyFile(source) }));
    const d = await daemon.waitFor(uuid);
    expect(d.status).toBe("FAILURE");
    expect(d.error).toContain("ModuleNotFoundError: No module named 'pxz_not_installed_here'");
    expect(d.error).toContain('script.py", line 2');
    expect(d.error).not.toContain("harness.py");
    const state = (await (await daemon.api(`/jobs/${uuid}`)).json()) as { error: string };
    expect(state.error).toContain("ModuleNotFoundError");
    const next = await uuidOf(await daemon.submit({ process: "api_test" }));
    expect((await daemon.waitFor(next)).status).toBe("SUCCESS");
  });

  test("a script's exception, an unserializable result and a NaN are the job's error", async () => {
    daemon = await startTestDaemon();
    const source = `def main(pc, params):
    if params['mode'] == 'raise':
        raise ValueError("no geometry")
    if params['mode'] == 'nan':
        return {'x': float('nan')}
    return {'x': object()}
`;
    const runs = await Promise.all(
      ["raise", "nan", "object"].map(async (mode) =>
        daemon!.waitFor(
          await uuidOf(await daemon!.submit({ script: pyFile(source), params: JSON.stringify({ mode }) })),
        ),
      ),
    );
    expect(runs.map((r) => r.status)).toEqual(["FAILURE", "FAILURE", "FAILURE"]);
    expect(runs[0]!.error).toContain("ValueError: no geometry");
    expect(runs[1]!.error).toContain("ResultError: The value returned by main cannot be stored as JSON");
    expect(runs[2]!.error).toContain("not JSON serializable");
  });

  test("the entrypoint check refuses a Python script without the function (400)", async () => {
    daemon = await startTestDaemon();
    const source = `def helper(pc, params):
    """def main(pc, params): is only text here"""
    return 1

async def other(pc, params):
    return 2
`;
    const missing = await daemon.submit({ script: pyFile(source) });
    expect(missing.status).toBe(400);
    expect(JSON.stringify(await missing.json())).toContain("The script file does not have the function main");
    const ok = await uuidOf(
      await daemon.submit({ script: pyFile(source), config: '{"entrypoint":"other"}' }),
    );
    const d = await daemon.waitFor(ok);
    expect(d.status).toBe("SUCCESS");
    expect(d.result).toBe(2);
  });

  test("a Python process in PROCESS_DIR is listed, documented by main's docstring, and runs", async () => {
    const processDir = tempDir("pxs-pyproc-");
    writeFileSync(
      join(processDir, "py_echo.py"),
      `from pixyz_worker import *


def main(pc: ProgramContext, params: dict):
    """
    Echo the params back.

    Parameters
    {
        'value': anything, [optional]
    }
    """
    pc.progress_next("Echoing")
    return {'echo': params, 'queue': pc['queue']}
`,
    );
    daemon = await startTestDaemon({ PROCESS_DIR: processDir });
    const list = (await (await daemon.api("/processes", { auth: false })).json()) as { processes: string[] };
    expect(list.processes).toContain("py_echo");
    const doc = await daemon.api("/processes/py_echo", { auth: false });
    expect(doc.status).toBe(200);
    expect(await doc.json()).toEqual({
      doc: "Process 'py_echo' documentation:\n\nEcho the params back.\n\nParameters\n{\n    'value': anything, [optional]\n}",
    });
    const uuid = await uuidOf(await daemon.submit({ process: "py_echo", params: '{"value":3}' }));
    const d = await daemon.waitFor(uuid);
    expect(d.result).toEqual({ echo: { value: 3 }, queue: "cpu" });
  });

  test("without Python, .py jobs fail with a clear error and TS jobs still run", async () => {
    daemon = await startTestDaemon({ PYTHON_BIN: "/nonexistent/python3" });
    const py = await uuidOf(await daemon.submit({ script: pyFile("def main(pc, params):\n    return 1\n") }));
    const d = await daemon.waitFor(py);
    expect(d.status).toBe("FAILURE");
    expect(d.error).toBe("PYTHON_BIN '/nonexistent/python3' not found: install Python 3 or set PYTHON_BIN");
    expect((d.attempts as unknown[]).length).toBe(1);
    const ts = await uuidOf(await daemon.submit({ process: "api_test" }));
    expect((await daemon.waitFor(ts)).status).toBe("SUCCESS");
  });
});

// The tutorials' workflows: chains across queues, groups, chords, sync and async.
const WORKFLOWS = `#!/usr/bin/env python3
from pixyz_worker.script import *
from pixyz_worker.tasks import pixyz_execute
from celery import chain, chord, group
from celery.result import allow_join_result
import os


def import_and_prepare(pc: ProgramContext, params: dict):
    pc['progress'].next("Importing file %s into %s" % (params['filepath'], pc['queue']))
    return {'pxz': os.path.join(params['output_dir'], 'export.pxz'), 'imported_on': pc['queue']}


def screenshot(pc: ProgramContext, params: dict):
    pc.progress_next("[screenshot] on queue %s" % pc['queue'])
    params['thumbs'] = {'iso': os.path.join(params['output_dir'], 'iso.png')}
    params['rendered_on'] = pc['queue']
    return params


@pixyz_schedule(wait=True, timeout=3600)
def main(pc: ProgramContext, params: dict):
    pc.progress_set_total(12)
    params['filepath'] = os.path.basename(pc.get_input_file())
    params['output_dir'] = pc.get_output_dir()
    return chain(pixyz_execute.s(params, pc.clone().update(entrypoint='import_and_prepare', raw=True)).set(queue='cpu'),
                 pixyz_execute.s(pc=pc.clone().update(entrypoint='screenshot', raw=True, compute_only=True)).set(queue='gpu'))()


def crc_part(pc: ProgramContext, params: dict):
    with open(pc.get_input_file(), 'rb') as f:
        return {'crc': len(f.read()), 'part': params['part']}


def merge_result(pc: ProgramContext, params):
    pc.progress_next("Merging %d results" % len(params))
    return {'total': sum(x['result']['crc'] for x in params), 'parts': [x['result']['part'] for x in params]}


def chord_sync(pc: ProgramContext, params: dict):
    pc.progress_set_total(2)
    pc.progress_next("splitting file")
    data = open(pc.get_input_file(), 'rb').read()
    for i in range(4):
        with open(pc.get_output_dir('crc_part%d' % i), 'wb') as f:
            f.write(data[i * len(data) // 4:(i + 1) * len(data) // 4])
    pc.progress_next("chord")
    task_group = chord(
        [pixyz_execute.s({'part': i}, pc=ProgramContext(script=pc['script'], data=pc.get_output_dir('crc_part%d' % i),
                                                        entrypoint='crc_part')).set(queue='cpu') for i in range(4)])(
        pixyz_execute.s(pc=ProgramContext(script=pc['script'], data=None, entrypoint='merge_result')).set(queue='cpu'))
    with allow_join_result():
        return task_group.get(on_message=lambda x: None, propagate=False)


def my_sleep(pc: ProgramContext, params: dict):
    return params['time'] * 10


def group_async(pc: ProgramContext, params: dict):
    c = group(group(pixyz_execute.s({'time': 1}, pc.clone().update(entrypoint='my_sleep')).set(queue='cpu'),
                    pixyz_execute.s({'time': 2}, pc.clone().update(entrypoint='my_sleep')).set(queue='cpu')),
              pixyz_execute.s({'time': 3}, pc.clone().update(entrypoint='my_sleep', raw=True)).set(queue='cpu'))()
    return c.as_tuple()


def broken(pc, params):
    raise TypeError("no geometry in this part")


def catch_child(pc: ProgramContext, params: dict):
    r = subtask_async(pc, 'broken', {}, queue='cpu')
    try:
        r.get()
        return {'caught': None}
    except Exception as e:
        return {'caught': type(e).__name__, 'message': str(e), 'state': r.state,
                'quiet': str(subtask_async(pc, 'broken', {}, queue='cpu').get(propagate=False))}


def execute_child(pc: ProgramContext, params: dict):
    a = pc.clone(entrypoint='my_sleep').execute({'time': 4}, queue='cpu')
    b = pc.clone(entrypoint='my_sleep', raw=True).execute({'time': 5}, queue='cpu')
    with pc.allow_join_result():
        return [a.get(), b.get(), pc.AsyncResult(b.id).get()]
`;

describe("Celery canvas from Python scripts, as child jobs", () => {
  test("a chain cpu -> gpu: raw results flow, merged into the parent's params; children are real jobs", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1,gpu:1" });
    const parent = await uuidOf(
      await daemon.submit({
        script: pyFile(WORKFLOWS),
        file: new File(["solid"], "panda.fbx"),
        params: '{"width":512}',
        config: '{"queue":"cpu"}',
      }),
    );
    const d = await daemon.waitFor(parent, undefined, 30000);
    expect(d.error).toBeNull();
    const out = (d.result as { output_dir: string }).output_dir;
    expect(d.result).toEqual({
      width: 512,
      filepath: "panda.fbx",
      output_dir: out,
      pxz: join(out, "export.pxz"),
      imported_on: "cpu",
      thumbs: { iso: join(out, "iso.png") },
      rendered_on: "gpu",
    });
    // wait=True: one step per child job, named by its id, and the total counts them.
    const children = d.children as string[];
    expect(children).toHaveLength(2);
    expect((d.steps as { info: string }[]).map((s) => s.info)).toEqual(children);
    expect(d.progress).toBe(100);
    const [first, second] = [await details(daemon, children[0]!), await details(daemon, children[1]!)];
    expect(first).toMatchObject({ status: "SUCCESS", parent, queue: "cpu" });
    expect(second).toMatchObject({ status: "SUCCESS", parent, queue: "gpu" });
    expect((second.attempts as { queue: string }[])[0]!.queue).toBe("gpu");
    expect((first.steps as { info: string }[])[0]!.info).toBe("Importing file panda.fbx into cpu");
  });

  test("a chord of 4 on their own inputs, then a join: wrapped results reach the body, with one slot", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1" });
    const data = "0123456789abcdef0123456789abcdef0123";
    const parent = await uuidOf(
      await daemon.submit({
        script: pyFile(WORKFLOWS),
        file: new File([data], "blob.bin"),
        config: '{"entrypoint":"chord_sync"}',
      }),
    );
    const d = await daemon.waitFor(parent, undefined, 30000);
    expect(d.error).toBeNull();
    // Wrapped: the body's task meta (its steps and times too: see python-compat.test.ts).
    expect(d.result).toMatchObject({ progress: 100, result: { total: data.length, parts: [0, 1, 2, 3] } });
    expect(d.children as string[]).toHaveLength(5);
    const body = await details(daemon, (d.children as string[])[4]!);
    expect(body.steps).toEqual([{ duration: expect.any(Number), info: "Merging 4 results" }]);
  });

  test("an async group returns nested id tuples; every job id is pollable at /jobs/{id}", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:2" });
    const parent = await uuidOf(
      await daemon.submit({ script: pyFile(WORKFLOWS), config: '{"entrypoint":"group_async"}' }),
    );
    const d = await daemon.waitFor(parent, undefined, 30000);
    expect(d.status).toBe("SUCCESS");
    // ((group, None), [((inner group, None), [((a, None), None), ((b, None), None)]), ((c, None), None)])
    type T = [[string, null], unknown];
    const [[, outerParent], members] = d.result as [[string, null], T[]];
    expect(outerParent).toBeNull();
    const [inner, third] = members as [[[string, null], T[]], T];
    const ids = [...inner[1].map((m) => m[0][0]), third[0][0]];
    expect(ids.sort()).toEqual([...(d.children as string[])].sort());
    const results = [];
    for (const id of ids) {
      expect((await daemon.api(`/jobs/${id}`)).status).toBe(200);
      results.push((await daemon.waitFor(id)).result);
    }
    expect(results.sort()).toEqual([10, 20, 30]);
  });

  test("a child's failure reaches the parent as an exception it can catch; pc.execute and AsyncResult", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:1" });
    const caught = await uuidOf(
      await daemon.submit({ script: pyFile(WORKFLOWS), config: '{"entrypoint":"catch_child"}' }),
    );
    const executed = await uuidOf(
      await daemon.submit({ script: pyFile(WORKFLOWS), config: '{"entrypoint":"execute_child"}' }),
    );
    const c = await daemon.waitFor(caught, undefined, 30000);
    expect(c.status).toBe("SUCCESS");
    expect(c.result).toMatchObject({ caught: "ChildJobError", state: "FAILURE" });
    const result = c.result as { message: string; quiet: string };
    expect(result.message).toContain("ended FAILURE: TypeError: no geometry in this part");
    expect(result.quiet).toContain("TypeError: no geometry in this part");
    const e = await daemon.waitFor(executed, undefined, 30000);
    expect(e.result).toMatchObject([{ progress: 100, result: 40 }, 50, 50]);
  });

  test("cancelling a waiting Python parent cancels its children", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:2" });
    const source = `from pixyz_worker.script import *
import time

def slow(pc, params):
    time.sleep(60)

def main(pc, params):
    r = group(pixyz_execute.s({}, pc.clone().update(entrypoint='slow')).set(queue='cpu') for _ in range(2))()
    return r.get()
`;
    const parent = await uuidOf(await daemon.submit({ script: pyFile(source) }));
    let children: string[] = [];
    for (let i = 0; i < 200 && children.length < 2; i++) {
      children = (await details(daemon, parent)).children as string[];
      await Bun.sleep(25);
    }
    expect(children).toHaveLength(2);
    expect((await daemon.api(`/jobs/${parent}`, { method: "DELETE" })).status).toBe(200);
    expect((await daemon.waitFor(parent)).status).toBe("REVOKED");
    for (const child of children) expect((await daemon.waitFor(child)).status).toBe("REVOKED");
  });
});

describe("reading Python scripts without running them", () => {
  const SOURCE = `import os
# @pixyz_schedule(queue='commented')
@other_decorator
@pixyz_schedule(queue="gpu",
                time_limit=600, priority=2,  # a comment
                compute_only=True, retries=compute(), name='x')
def main(pc, params):
    r'''Raw \\n doc.'''
    return 1

@pixyz_schedule(queue='cpu')
@pixyz_schedule(wait=True, timeout=3600)
async def orchestrate(pc, params): "inline doc"; return 2

@share.pixyz_schedule(wait=1)
def plain(pc, params):
    x = """
def hidden(pc, params):
"""
`;

  test("top-level def and async def are entrypoints; nested or quoted ones are not", () => {
    expect(inspectScript(SOURCE, "s.py", "main").declared).toEqual({
      queue: "gpu",
      time_limit: 600,
      priority: 2,
      compute_only: true,
    });
    expect(() => inspectScript(SOURCE, "s.py", "hidden")).toThrow(ScriptError);
    expect(() => inspectScript(SOURCE, "s.py", "other_decorator")).toThrow(
      "The script file does not have the function other_decorator",
    );
  });

  test("the last @pixyz_schedule counts; wait=True without a queue means 'control'", () => {
    expect(declaredSchedule(SOURCE, "s.py", "orchestrate")).toEqual({ queue: "control" });
    expect(declaredSchedule(SOURCE, "s.py", "plain")).toEqual({ queue: "control" });
    expect(declaredSchedule("def main(pc, params):\n    pass\n", "s.py", "main")).toEqual({});
  });

  test("docstrings are cleaned as ast.get_docstring does", () => {
    expect(entrypointDoc(SOURCE, "main", "s.py")).toBe("Raw \\n doc.");
    expect(entrypointDoc(SOURCE, "orchestrate", "s.py")).toBe("inline doc");
    expect(entrypointDoc(SOURCE, "plain", "s.py")).toBeNull();
    expect(
      entrypointDoc('def main(pc, p):\n    """\n    A\n      b\n\n    c\\tx\n    """\n', "main", "p.py"),
    ).toBe("A\n  b\n\nc   x");
  });

  test("a TS process may document itself with an exported description", () => {
    expect(entrypointDoc(`export const description = "Converts a file.";\nexport function main() {}`)).toBe(
      "Converts a file.",
    );
  });
});
