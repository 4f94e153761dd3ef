// `pixyz-scheduler run`: a TS or Python script in the foreground, no daemon, the real CLI as a
// child process; and the original's own local mode (`python3 script.py` with from_commandline).

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, runProcess } from "./helpers/cli.ts";
import { tempDir } from "./helpers/daemon.ts";

const ROOT = join(import.meta.dir, "..");
const work = tempDir("pxs-run-");
afterAll(() => rmSync(work, { recursive: true, force: true }));

const cli = (args: string[], env: Record<string, string> = {}) =>
  runCli(["run", ...args], { cwd: work, env: { ...process.env, ...env } });

function file(name: string, content: string): string {
  const path = join(work, name);
  writeFileSync(path, content);
  return path;
}

const input = file("notes.txt", "one\ntwo\nthree\n");

describe("pixyz-scheduler run", () => {
  test("a TS script: progress as it happens, outputs in -o, the result as JSON on stdout", async () => {
    const script = file(
      "count.ts",
      `export async function main(ctx, params) {
  ctx.progress.total(2);
  ctx.progress.next("Reading");
  const lines = (await Bun.file(ctx.inputFile()).text()).trim().split("\\n");
  console.log("read", lines.length, "lines");
  ctx.progress.next("Writing");
  await Bun.write(ctx.outputDir("report/lines.txt"), lines.reverse().join("\\n"));
  return { lines: lines.length, prefix: params.prefix, queue: ctx.queue };
}`,
    );
    const out = join(work, "out-ts");
    const { stdout, stderr, code } = await cli([script, "-i", input, "-p", '{"prefix":"x"}', "-o", out]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ lines: 3, prefix: "x", queue: "cpu" });
    expect(stderr).toContain("[count.ts:main] step 1/2: Reading");
    expect(stderr).toContain("read 3 lines");
    expect(stderr.indexOf("read 3 lines")).toBeLessThan(stderr.indexOf("step 2/2: Writing"));
    expect(readFileSync(join(out, "report/lines.txt"), "utf8")).toBe("three\ntwo\none");
  });

  test("a Python script of the original, unchanged: same pc, outputs in -o, queue from its decorator", async () => {
    const script = file(
      "convert.py",
      `#!/usr/bin/env python3
from pixyz_worker.script import *


@pixyz_schedule(queue='gpu')
def main(pc: ProgramContext, params: dict):
    pc.progress_set_total(2)
    pc.progress_next("Importing file")
    data = open(pc.get_input_file()).read()
    print("read", len(data), "bytes")
    pc.progress_next("Exporting")
    with open(pc.get_output_dir('output.%s' % params.get('extension', 'pxz')), 'w') as f:
        f.write(data.upper())
    return {'output': 'output.%s' % params.get('extension', 'pxz'), 'queue': pc['queue'], 'local': pc.is_local()}


if __name__ == '__main__':
    LocalPixyzTask.from_commandline(__file__, os.getcwd(), 'main')
`,
    );
    const out = join(work, "out-py");
    const { stdout, stderr, code } = await cli([script, "-i", input, "-p", '{"extension":"glb"}', "-o", out]);
    expect(stderr).toContain("[convert.py:main] step 2/2: Exporting");
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ output: "output.glb", queue: "gpu", local: true });
    expect(stderr).toContain("read 14 bytes");
    expect(readFileSync(join(out, "output.glb"), "utf8")).toBe("ONE\nTWO\nTHREE\n");
  });

  test("a Python DAG runs its child jobs locally: chain and chord, outputs in the same folder", async () => {
    const script = file(
      "dag.py",
      `from pixyz_worker.script import *
from celery.result import allow_join_result
import os


def part(pc, params):
    with open(os.path.join(pc.get_output_dir(), 'part%d.txt' % params['i']), 'w') as f:
        f.write(str(params['i']))
    return {'i': params['i']}


def join_parts(pc, params):
    return sorted(x['result']['i'] for x in params)


def double(pc, params):
    return {'n': params['n'] * 2}


def main(pc, params):
    total = chain(pixyz_execute.s({'n': 1}, pc.clone().update(entrypoint='double', raw=True)).set(queue='cpu'),
                  pixyz_execute.s(pc=pc.clone().update(entrypoint='double', raw=True)).set(queue='gpu'))()
    parts = chord([pixyz_execute.s({'i': i}, pc.clone().update(entrypoint='part')).set(queue='cpu') for i in range(3)])(
        pixyz_execute.s(pc=pc.clone().update(entrypoint='join_parts', raw=True)).set(queue='cpu'))
    with allow_join_result():
        return {'chain': total.get(), 'chord': parts.get()}
`,
    );
    const out = join(work, "out-dag");
    const { stdout, stderr, code } = await cli([script, "-o", out]);
    expect(stderr).toContain("[child 1 double] started");
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ chain: { n: 4 }, chord: [0, 1, 2] });
    expect(readdirSync(out).sort()).toEqual(["part0.txt", "part1.txt", "part2.txt"]);
  });

  test("a failing script exits 1 with its traceback; a missing entrypoint is a usage error (2)", async () => {
    const script = file(
      "broken.py",
      "import os\n\ndef main(pc, params):\n    raise ValueError('no geometry')\n",
    );
    const failed = await cli([script, "-o", join(work, "out-broken")]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe("");
    expect(failed.stderr).toContain("ValueError: no geometry");
    expect(failed.stderr).toContain('broken.py", line 4, in main');
    const usage = await cli([script, "-e", "other"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("The script file does not have the function other");
    expect(existsSync(join(work, "output"))).toBe(false);
  });

  test("python3 script.py: the original's local mode through LocalPixyzTask.from_commandline", async () => {
    const script = file(
      "standalone.py",
      `from pixyz_worker.script import *


def child(pc, params):
    return params['x'] + 1


def main(pc, params):
    pc.progress_set_total(1)
    pc.progress_next("Working")
    r = subtask_async(pc, 'child', {'x': 41}, queue='cpu')
    with open(pc.get_output_dir('out.txt'), 'w') as f:
        f.write('ok')
    print('result', r.get(), pc.is_local())


if __name__ == '__main__':
    LocalPixyzTask.from_commandline(__file__, os.getcwd(), 'main')
`,
    );
    const { stdout, stderr, code } = await runProcess(["python3", script], {
      cwd: work,
      env: { ...process.env, PYTHONPATH: join(ROOT, "src/sdk/python"), PYTHONDONTWRITEBYTECODE: "1" },
    });
    expect(stderr).toBe("");
    expect(code).toBe(0);
    // The child's result, wrapped in its task meta (name, times, steps), as under the daemon.
    const time = "'\\d{4}-[^']+\\+00:00'";
    const meta = `\\{'shadow_name': None, 'time_info': \\{'request': ${time}, 'started': ${time}, 'stopped': ${time}\\}`;
    expect(stdout).toMatch(
      new RegExp(
        `^\\[task step 1/1\\] Working\nresult ${meta}, 'progress': 100, 'steps': \\[\\], 'result': 42\\} True\n$`,
      ),
    );
    expect(readFileSync(join(work, "out.txt"), "utf8")).toBe("ok");
  });
});
