// The output pump of a warm harness: a job's bytes go to its log up to its end mark, wherever the
// pipe cut the mark, and nothing of the mark or after it does.
import { afterEach, expect, test } from "bun:test";
import { closeSync, openSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { newSink, pump } from "../src/runner/output-pump.ts";
import { tempDir } from "./helpers/daemon.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const bytes = (text: string) => new TextEncoder().encode(text);
const streamOf = (chunks: string[]) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(bytes(chunk));
      controller.close();
    },
  });

/** Pumps `chunks` into a fresh log with `mark` set; what the log holds and how often the mark was seen. */
async function pumped(chunks: string[], mark: string) {
  const dir = tempDir("pxs-pump-");
  dirs.push(dir);
  const path = join(dir, "job.log");
  const fd = openSync(path, "a");
  let seen = 0;
  const sink = { ...newSink(), fd, mark: bytes(mark), onMark: () => seen++ };
  await pump(streamOf(chunks), sink);
  closeSync(fd);
  return { log: readFileSync(path, "utf8"), seen, sink };
}

const MARK = "\x1eabc123\x1e";

test("the bytes before the mark reach the log; the mark and what follows do not", async () => {
  const { log, seen, sink } = await pumped(["line 1\nline 2\n", `tail${MARK}stray`], MARK);
  expect(log).toBe("line 1\nline 2\ntail");
  expect(seen).toBe(1);
  expect(sink.fd).toBeNull();
  expect(sink.mark).toBeNull();
});

test("a mark cut across three chunks is still found, and nothing of it is written", async () => {
  const { log, seen } = await pumped(["out\x1eab", "c1", `23\x1eafter`], MARK);
  expect(log).toBe("out");
  expect(seen).toBe(1);
});

test("a control byte that starts no mark is written once the next chunk shows it", async () => {
  const { log, seen } = await pumped(["a\x1e", "b\n", `c${MARK}`], MARK);
  expect(log).toBe("a\x1eb\nc");
  expect(seen).toBe(1);
});

test("without the mark everything is written and nothing is seen", async () => {
  const { log, seen } = await pumped(["x\x1eab", "c"], MARK);
  expect(log).toBe("x\x1eabc");
  expect(seen).toBe(0);
});
