// The TS harness writes its channel lines with Bun.write (src/sdk/channel.ts): a line bigger than
// the pipe's free space finishes in the background. Lines must still arrive whole and in order,
// and all of them before the child exits, whether the job runs in a warm child or a cold one.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { scriptFile, startTestDaemon, type TestDaemon } from "./helpers/daemon.ts";

// A 6 MiB step (far over a pipe's 64 KiB), a small step queued behind it in the same tick, then
// a 12 MiB result, sent while the harness is about to exit.
const BIG_LINES = `export async function main(ctx) {
  ctx.progress.total(2);
  ctx.progress.next("a".repeat(6 << 20));
  ctx.progress.next("second");
  ctx.progress.stop();
  return "r".repeat(12 << 20);
}`;

for (const warm of ["true", "false"]) {
  describe(`WARM_CHILDREN=${warm}`, () => {
    let d: TestDaemon;
    beforeAll(async () => {
      d = await startTestDaemon({ SLOTS: "cpu:1", WARM_CHILDREN: warm });
    });
    afterAll(() => d.close());

    test("lines bigger than the pipe arrive whole, in order, before the exit", async () => {
      const res = await d.submit({ script: scriptFile(BIG_LINES) });
      const { uuid } = (await res.json()) as { uuid: string };
      const details = await d.waitFor(uuid);
      expect(details.status).toBe("SUCCESS");
      expect(details.result).toBe("r".repeat(12 << 20));
      const steps = details.steps as { info: string; duration: number }[];
      expect(steps.map((s) => s.info.length)).toEqual([6 << 20, "second".length]);
      expect(steps[1]!.info).toBe("second");
      expect(steps.every((s) => s.duration >= 0)).toBe(true);
    });
  });
}
