// A script's inspection is kept by content (scripts/inspect.ts): the same answer as a fresh one for
// the same language, entrypoint and source, never another script's.
import { expect, test } from "bun:test";
import { inspectScript, ScriptError } from "../src/scripts/inspect.ts";

const TS = 'export const schedule = { queue: "gpu", time_limit: 60 };\nexport function main() {}\n';

test("the same script again: the same declaration, which a caller's change does not reach", () => {
  const first = inspectScript(TS, "a.ts", "main").declared;
  expect(first).toEqual({ queue: "gpu", time_limit: 60 });
  first.queue = "changed by the caller";
  expect(inspectScript(TS, "b.ts", "main").declared).toEqual({ queue: "gpu", time_limit: 60 });
});

test("the entrypoint, the language and every byte of the source count", () => {
  inspectScript(TS, "a.ts", "main");
  expect(() => inspectScript(TS, "a.ts", "other")).toThrow(ScriptError);
  expect(inspectScript(TS.replace("60", "61"), "a.ts", "main").declared).toEqual({
    queue: "gpu",
    time_limit: 61,
  });
  const python = "def main(pc, params):\n    pass\n";
  expect(inspectScript(python, "s.py", "main").declared).toEqual({});
  expect(() => inspectScript(python, "s.ts", "main")).toThrow("does not parse");
});

test("a refused script is refused again, not remembered as good", () => {
  const broken = "export function main( {\n";
  expect(() => inspectScript(broken, "a.ts", "main")).toThrow(ScriptError);
  expect(() => inspectScript(broken, "a.ts", "main")).toThrow(ScriptError);
});
