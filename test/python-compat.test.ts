// Smaller parts of the original's Python API, run as scripts through a real daemon (and without
// one): output sub-folders, celery.chunks, result polling and timeouts, and the task meta a
// wrapped child result carries.
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, runProcess } from "./helpers/cli.ts";
import { startTestDaemon, type TestDaemon, tempDir } from "./helpers/daemon.ts";

const PYTHON_PATH = join(import.meta.dir, "../src/sdk/python");

let daemon: TestDaemon | null = null;
afterEach(async () => {
  await daemon?.close();
  daemon = null;
});

const pyFile = (source: string) => new File([source], "script.py", { type: "text/x-python" });

async function runPython(d: TestDaemon, source: string, fields: Record<string, string> = {}) {
  const res = await d.submit({ script: pyFile(source), ...fields });
  const { uuid } = (await res.json()) as { uuid?: string };
  if (!uuid) throw new Error(`submission refused (${res.status})`);
  return d.waitFor(uuid, undefined, 30000);
}

const ISO = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);

const SCRIPT = `from pixyz_worker.script import *
from celery.exceptions import TimeoutError
from celery.result import ResultSet
import celery
import time


def double(pc, params):
    pc.progress_next("doubling %d" % params['x'])
    return params['x'] * 2


def two_steps(pc, params):
    pc.progress_set_total(2)
    pc.progress_next("Importing")
    pc.progress_next("Exporting")
    return {'done': params['n']}


def slow(pc, params):
    time.sleep(params['seconds'])
    return 'slept'


def write_deep(pc, params):
    with open(pc.get_output_dir('sub/deeper/part.txt'), 'w') as f:
        f.write('deep')
    with open(pc.get_output_dir('top.txt'), 'w') as f:
        f.write('top')
    return sorted(os.listdir(pc.get_output_dir('sub')))


def use_chunks(pc, params):
    calls = [({'x': i}, pc.clone(entrypoint='double', raw=True)) for i in range(5)]
    by_task = pixyz_execute.chunks(calls, 2).set(queue='cpu').apply_async()
    by_canvas = celery.chunks(pixyz_execute.s().set(queue='cpu'), calls[:3], 3)()
    wrapped = pixyz_execute.chunks([({'x': 7}, pc.clone(entrypoint='double'))], 1).set(queue='cpu')()
    return {'by_task': by_task.get(), 'by_canvas': by_canvas.get(), 'chunks': len(by_task.results),
            'wrapped': wrapped.get()[0][0]}


def poll_and_timeout(pc, params):
    r = pc.clone(entrypoint='slow', raw=True).execute({'seconds': params['seconds']}, queue='cpu')
    t = time.monotonic()
    early = {'ready': r.ready(), 'state': r.state, 'status': r.status, 'successful': r.successful(),
             'failed': r.failed(), 'result': r.result}
    early['seconds'] = time.monotonic() - t
    t = time.monotonic()
    try:
        r.get(timeout=0.5)
        timed_out = None
    except TimeoutError as e:
        timed_out = [type(e).__module__, type(e).__name__, str(e)]
    waited = time.monotonic() - t
    try:
        ResultSet([r]).get(timeout=0.2)
        group_timed_out = False
    except TimeoutError:
        group_timed_out = True
    value = r.get()
    late = {'ready': r.ready(), 'state': r.state, 'successful': r.successful(), 'result': r.result}
    return {'early': early, 'timed_out': timed_out, 'waited': waited, 'group_timed_out': group_timed_out,
            'value': value, 'late': late}


def wrapped_meta(pc, params):
    a = pc.clone(entrypoint='two_steps').execute({'n': 1}, queue='cpu', shadow='converter')
    b = pc.clone(entrypoint='two_steps', raw=True).execute({'n': 2}, queue='cpu')
    with pc.allow_join_result():
        return [a.get(), b.get(), a.id]


if __name__ == '__main__':
    import json
    print(json.dumps(LocalPixyzTask.from_commandline(__file__, os.getcwd(), sys.argv[1], params={'seconds': 0})))
`;

describe.skipIf(!Bun.which("python3"))("the original's Python API, through the daemon", () => {
  test("pc.get_output_dir('sub/x') creates sub/, as ctx.outputDir does; the file is an output", async () => {
    daemon = await startTestDaemon();
    const d = await runPython(daemon, SCRIPT, { config: '{"entrypoint":"write_deep"}' });
    expect(d.error).toBeNull();
    expect(d.result).toEqual(["deeper"]);
    const outputs = (await (await daemon.api(`/jobs/${d.uuid}/outputs`)).json()) as { outputs: string[] };
    expect(outputs.outputs.sort()).toEqual(["sub/deeper/part.txt", "top.txt"]);
    expect(await (await daemon.api(`/jobs/${d.uuid}/outputs/sub/deeper/part.txt`)).text()).toBe("deep");
  });

  test("task.chunks(it, n) and celery.chunks: one child job per chunk, one list of values per chunk", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:2" });
    const d = await runPython(daemon, SCRIPT, { config: '{"entrypoint":"use_chunks","queue":"cpu"}' });
    expect(d.error).toBeNull();
    const result = d.result as Record<string, unknown>;
    expect(result.by_task).toEqual([[0, 2], [4, 6], [8]]);
    expect(result.by_canvas).toEqual([[0, 2, 4]]);
    expect(result.chunks).toBe(3);
    // A call whose pc is not raw is wrapped, with the steps it made.
    expect(result.wrapped).toMatchObject({
      progress: 100,
      result: 14,
      steps: [{ duration: expect.any(Number), info: "doubling 7" }],
    });
    const children = d.children as string[];
    expect(children).toHaveLength(5);
    const first = (await (await daemon.api(`/jobs/${children[0]}/details`)).json()) as Record<
      string,
      unknown
    >;
    expect(first).toMatchObject({ status: "SUCCESS", queue: "cpu", result: [0, 2] });
    expect((first.steps as { info: string }[]).map((s) => s.info)).toEqual(["doubling 0", "doubling 1"]);
  });

  test("ready(), state, successful() answer while the child runs; get(timeout=...) raises Celery's TimeoutError", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:2" });
    const d = await runPython(daemon, SCRIPT, {
      config: '{"entrypoint":"poll_and_timeout","queue":"cpu"}',
      params: '{"seconds":3}',
    });
    expect(d.error).toBeNull();
    const result = d.result as Record<string, Record<string, unknown> | unknown>;
    const early = result.early as Record<string, unknown>;
    expect(early).toMatchObject({ ready: false, successful: false, failed: false, result: null });
    expect(["PENDING", "STARTED"]).toContain(early.state as string);
    expect(early.status).toBe(early.state);
    expect(early.seconds as number).toBeLessThan(1);
    expect(result.timed_out).toEqual(["celery.exceptions", "TimeoutError", "The operation timed out."]);
    expect(result.waited as number).toBeGreaterThanOrEqual(0.45);
    expect(result.waited as number).toBeLessThan(2.5);
    expect(result.group_timed_out).toBe(true);
    expect(result.value).toBe("slept");
    expect(result.late).toEqual({ ready: true, state: "SUCCESS", successful: true, result: "slept" });
  });

  test("a wrapped child result carries the child's name, times and steps, as the original's task meta", async () => {
    daemon = await startTestDaemon({ SLOTS: "cpu:2" });
    const d = await runPython(daemon, SCRIPT, { config: '{"entrypoint":"wrapped_meta","queue":"cpu"}' });
    expect(d.error).toBeNull();
    const [wrapped, raw, id] = d.result as [Record<string, unknown>, unknown, string];
    expect(raw).toEqual({ done: 2 });
    const child = (await (await daemon.api(`/jobs/${id}/details`)).json()) as Record<string, unknown>;
    expect(wrapped).toEqual({
      shadow_name: "converter",
      time_info: child.time_info,
      progress: 100,
      steps: child.steps,
      result: { done: 1 },
    });
    expect(wrapped.time_info).toEqual({ request: ISO, started: ISO, stopped: ISO });
    expect((wrapped.steps as { info: string }[]).map((s) => s.info)).toEqual(["Importing", "Exporting"]);
  });
});

describe.skipIf(!Bun.which("python3"))("the same without a daemon", () => {
  test("pixyz-scheduler run: polling, timeouts and wrapped meta of local child processes", async () => {
    const work = tempDir("pxs-compat-run-");
    const script = join(work, "compat.py");
    writeFileSync(script, SCRIPT);
    const out = join(work, "out");
    const run = await runCli(["run", script, "-e", "poll_and_timeout", "-p", '{"seconds":3}', "-o", out], {
      cwd: work,
    });
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(result.timed_out).toEqual(["celery.exceptions", "TimeoutError", "The operation timed out."]);
    expect((result.early as { ready: boolean }).ready).toBe(false);
    expect(result.waited as number).toBeLessThan(2.5);
    expect(result.late).toEqual({ ready: true, state: "SUCCESS", successful: true, result: "slept" });

    const meta = await runCli(["run", script, "-e", "wrapped_meta", "-o", out], { cwd: work });
    expect(meta.code).toBe(0);
    const [wrapped] = JSON.parse(meta.stdout) as [Record<string, unknown>];
    expect(wrapped).toMatchObject({ progress: 100, result: { done: 1 } });
    expect(wrapped.time_info).toEqual({ request: ISO, started: ISO, stopped: ISO });
    expect((wrapped.steps as { info: string }[]).map((s) => s.info)).toEqual(["Importing", "Exporting"]);
  }, 30000); // the first script sleeps 3 s by design: bun test's 5 s default left too little for two CLI runs

  test("the original's local mode (python3 script.py): chunks, wrapped meta and sub-folders", async () => {
    const work = tempDir("pxs-compat-local-");
    const script = join(work, "compat.py");
    writeFileSync(script, SCRIPT);
    const env = { ...process.env, PYTHONPATH: PYTHON_PATH };
    const chunks = await runProcess(["python3", script, "use_chunks"], { cwd: work, env });
    expect(chunks.stderr).toBe("");
    const result = JSON.parse(chunks.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
    expect(result.by_task).toEqual([[0, 2], [4, 6], [8]]);
    expect(result.wrapped).toMatchObject({ progress: 100, result: 14, steps: [{ info: "doubling 7" }] });

    const meta = await runProcess(["python3", script, "wrapped_meta"], { cwd: work, env });
    const [wrapped] = JSON.parse(meta.stdout.trim().split("\n").pop()!) as [Record<string, unknown>];
    expect(wrapped.time_info).toEqual({ request: ISO, started: ISO, stopped: ISO });
    expect((wrapped.steps as { info: string }[]).map((s) => s.info)).toEqual(["Importing", "Exporting"]);

    const deep = await runProcess(["python3", script, "write_deep"], { cwd: work, env });
    expect(deep.stderr).toBe("");
    expect(await Bun.file(join(work, "sub/deeper/part.txt")).text()).toBe("deep");
  });
});
