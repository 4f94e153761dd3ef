// How an attempt's end is classified (runner/classify.ts), without a process: the runner's own
// kills first, then what the script reported, then how the process exited.

import { describe, expect, test } from "bun:test";
import { classifyExit, type Observed } from "../src/runner/classify.ts";

const clean: Observed = {
  killedFor: null,
  thrown: null,
  reported: null,
  exitCode: 0,
  signal: null,
  timeLimitS: 60,
  memory: { usedKb: 0, limitKb: undefined },
  logMaxBytes: 1000,
};
const thrown = {
  t: "error",
  name: "ValueError",
  message: "bad",
  stack: "ValueError: bad\n  at main",
} as const;

describe("classifyExit", () => {
  test("a result and exit 0 is a success carrying the value", () => {
    expect(classifyExit({ ...clean, reported: { value: { n: 1 } } })).toEqual({
      cause: "success",
      result: { n: 1 },
    });
  });

  test("a result with a non-zero exit is not a success", () => {
    expect(classifyExit({ ...clean, reported: { value: 1 }, exitCode: 3 })).toMatchObject({ cause: "exit" });
  });

  test("the script's error is an exception with its stack", () => {
    expect(classifyExit({ ...clean, thrown, exitCode: 1 })).toEqual({
      cause: "exception",
      error: thrown.stack,
    });
  });

  test("an error line without strings still gives a readable message", () => {
    const odd = { t: "error", name: 42, message: null, stack: undefined } as never;
    expect(classifyExit({ ...clean, thrown: odd, exitCode: 1 }).error).toBe("Error: (no message)");
  });

  test("the runner's own kills win over what the dying script said", () => {
    const dying = { ...clean, thrown, reported: { value: 1 }, signal: "SIGKILL", exitCode: null };
    expect(classifyExit({ ...dying, killedFor: "timeout" })).toEqual({
      cause: "timeout",
      error: "Time limit exceeded: the job ran longer than 60 s and was killed",
    });
    expect(classifyExit({ ...dying, killedFor: "memory", memory: { usedKb: 900, limitKb: 512 } }).error).toBe(
      "Memory limit exceeded: the job's processes used 900 KB (limit 512 KB) and were killed",
    );
    expect(classifyExit({ ...dying, killedFor: "log" }).cause).toBe("log");
    expect(classifyExit({ ...dying, killedFor: "revoked" })).toEqual({
      cause: "revoked",
      error: "The job was cancelled",
    });
  });

  test("without a report: a signal, else the exit code", () => {
    expect(classifyExit({ ...clean, signal: "SIGSEGV", exitCode: null })).toEqual({
      cause: "signal",
      error: "The job's process was killed by SIGSEGV (see the job log)",
    });
    expect(classifyExit({ ...clean, exitCode: 0 })).toEqual({
      cause: "exit",
      error: "The job's process exited with code 0 without reporting a result (see the job log)",
    });
  });

  test("a kill by the daemon's stop is `stopped`, whatever the process said before it died", () => {
    expect(classifyExit({ ...clean, killedFor: "stop", thrown, signal: "SIGKILL", exitCode: null })).toEqual({
      cause: "stopped",
      error: "The daemon stopped while the job ran; it runs again",
    });
  });
});
