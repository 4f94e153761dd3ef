// A failed job says why in one line everywhere a one-line error is shown (GET /jobs/{uuid}, the job
// list, the client's `exec -w` and `status`, the end line of the attempt in the job log), while the
// whole text (a Python traceback) stays in /details and in the job log.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { errorHeadline } from "../src/jobs/error-headline.ts";
import { runCli, runProcess } from "./helpers/cli.ts";
import { startTestDaemon, type TestDaemon, TOKEN, tempDir } from "./helpers/daemon.ts";

const PYTHON_PATH = join(import.meta.dir, "../src/sdk/python");

const TRACEBACK = `Traceback (most recent call last):
  File "/data/jobs/x/script/script.py", line 6, in main
    helper()
  File "/data/jobs/x/script/script.py", line 2, in helper
    raise ValueError("bad input")
ValueError: bad input`;

const CASES: [string, string, string][] = [
  ["a Python traceback: its exception line", TRACEBACK, "ValueError: bad input"],
  [
    "a chained traceback: the last exception",
    `Traceback (most recent call last):
  File "s.py", line 3, in main
    int("x")
ValueError: invalid literal for int() with base 10: 'x'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "s.py", line 5, in main
    raise RuntimeError("cannot convert")
RuntimeError: cannot convert`,
    "RuntimeError: cannot convert",
  ],
  [
    "a SyntaxError: its message, not the source line or the caret",
    `Traceback (most recent call last):
  File "/data/jobs/x/script/script.py", line 3
    def main(pc, params:
            ^
SyntaxError: '(' was never closed`,
    "SyntaxError: '(' was never closed",
  ],
  [
    "a multi-line message and notes: the first line of the message",
    `Traceback (most recent call last):
  File "s.py", line 2, in main
    raise KeyError("part")
KeyError: 'part'
  while reading the assembly
see the log`,
    "KeyError: 'part'",
  ],
  [
    "a traceback of no frames: its last line",
    "Traceback (most recent call last):\nOSError: disk",
    "OSError: disk",
  ],
  [
    "an exception with no frames: its line",
    "ModuleNotFoundError: No module named 'pxz'",
    "ModuleNotFoundError: No module named 'pxz'",
  ],
  [
    "a JS stack: its first line",
    "Error: the mesh is empty\n    at main (/data/jobs/x/script/job.ts:1:30)\n    at run (harness.js:10:5)",
    "Error: the mesh is empty",
  ],
  [
    "a message after blank lines: its first visible line",
    "\n\n  PYTHON_BIN 'x' not found\nmore",
    "  PYTHON_BIN 'x' not found",
  ],
];

describe("errorHeadline", () => {
  for (const [name, text, headline] of CASES) {
    test(name, () => expect(errorHeadline(text)).toBe(headline));
  }

  test("null stays null; a blank text is trimmed", () => {
    expect(errorHeadline(null)).toBeNull();
    expect(errorHeadline(undefined)).toBeNull();
    expect(errorHeadline(" \n ")).toBe("");
  });

  test.skipIf(!Bun.which("python3"))(
    "the Python package finds the same headline (ChildJobError's message)",
    async () => {
      const code = `import json, sys
from pixyz_worker.exception import error_headline
print(json.dumps([error_headline(t) for t in json.load(sys.stdin)]))`;
      const run = await runProcess(["python3", "-c", code], {
        env: { ...process.env, PYTHONPATH: PYTHON_PATH },
        stdin: JSON.stringify(CASES.map(([, text]) => text)),
      });
      expect(run.stderr).toBe("");
      expect(JSON.parse(run.stdout)).toEqual(CASES.map(([, , headline]) => headline));
    },
  );
});

describe.skipIf(!Bun.which("python3"))("a failed Python job says why on one line", () => {
  let d: TestDaemon;
  let work: string;
  let script: string;
  beforeAll(async () => {
    d = await startTestDaemon();
    work = tempDir("pxs-headline-");
    script = join(work, "fails.py");
    writeFileSync(
      script,
      `def helper():
    raise ValueError("bad input")


def main(pc, params):
    print("converting")
    helper()
`,
    );
  });
  afterAll(() => d.close());

  const cli = (args: string[]) =>
    runCli([...args, "--url", d.url, "-t", TOKEN], {
      cwd: work,
      env: { ...process.env, PIXYZ_URL: undefined, PIXYZ_TOKEN: undefined },
    });

  test("exec -w, status, GET /jobs/{uuid} and the job list show the exception line; details and the log the traceback", async () => {
    const run = await cli(["exec", "-s", script, "-w"]);
    expect(run.code).toBe(10);
    const uuid = run.stdout.trim();
    expect(run.stderr).toContain("Error: ValueError: bad input\n");
    expect(run.stderr).not.toContain("Traceback");

    const status = await cli(["status", "-j", uuid]);
    expect(status.code).toBe(10);
    expect(status.stdout).toContain("  error:     ValueError: bad input\n");
    expect(status.stdout).not.toContain("Traceback");
    expect(status.stdout).toContain(`status -j ${uuid} --json)`);

    const state = (await (await d.api(`/jobs/${uuid}`)).json()) as { error: string };
    expect(state.error).toBe("ValueError: bad input");
    const listed = (await (await d.api("/jobs")).json()) as { jobs: { uuid: string; error: string }[] };
    expect(listed.jobs.find((j) => j.uuid === uuid)!.error).toBe("ValueError: bad input");

    const details = (await (await d.api(`/jobs/${uuid}/details`)).json()) as {
      error: string;
      attempts: { error: string }[];
    };
    for (const error of [details.error, details.attempts[0]!.error]) {
      expect(error).toStartWith("Traceback (most recent call last):\n");
      expect(error).toContain('fails.py", line 2, in helper');
      expect(error).toEndWith("\nValueError: bad input");
    }

    const log = await (await d.api(`/jobs/${uuid}/logs`)).text();
    expect(log).toContain(`converting\n${details.error}\n`);

    const json = await cli(["status", "-j", uuid, "--json"]);
    expect((JSON.parse(json.stdout) as { error: string }).error).toBe(details.error);
  });

  test("the attempt's end line in the job log names the exception", async () => {
    const form = { script: new File([await Bun.file(script).text()], "fails.py") };
    const { uuid } = (await (await d.submit(form)).json()) as { uuid: string };
    expect((await d.waitFor(uuid)).status).toBe("FAILURE");
    const log = await (await d.api(`/jobs/${uuid}/logs`)).text();
    expect(log).toContain("attempt 1 ended: exception (ValueError: bad input)\n");
    expect(log).not.toContain("(Traceback (most recent call last):)");
  });
});
