// The daemon's shrink when idle (daemon/idle-shrink.ts): once per quiet period with no job running,
// at most once per interval, never while work flows.
import { afterEach, expect, test } from "bun:test";
import { IdleShrink, shrinkNow } from "../src/daemon/idle-shrink.ts";

const started: IdleShrink[] = [];
afterEach(() => {
  for (const idle of started.splice(0)) idle.stop();
});

function idleShrink(running: () => number, minIntervalMs = 0) {
  const shrinks: number[] = [];
  const idle = new IdleShrink({
    running,
    delayMs: 150,
    minIntervalMs,
    shrink: () => shrinks.push(Date.now()),
  });
  started.push(idle);
  idle.start();
  return { idle, shrinks };
}

test("nothing happened since the start: no shrink", async () => {
  const { shrinks } = idleShrink(() => 0);
  await Bun.sleep(400);
  expect(shrinks).toHaveLength(0);
});

test("one shrink after activity and the quiet delay, and no second one while nothing happens", async () => {
  const { idle, shrinks } = idleShrink(() => 0);
  idle.touch();
  await Bun.sleep(20);
  expect(shrinks).toHaveLength(0);
  await Bun.sleep(500);
  expect(shrinks).toHaveLength(1);
  await Bun.sleep(300);
  expect(shrinks).toHaveLength(1);
  idle.touch();
  await Bun.sleep(500);
  expect(shrinks).toHaveLength(2);
});

test("not while a job runs, however quiet", async () => {
  let running = 1;
  const { idle, shrinks } = idleShrink(() => running);
  idle.touch();
  await Bun.sleep(500);
  expect(shrinks).toHaveLength(0);
  running = 0;
  await Bun.sleep(400);
  expect(shrinks).toHaveLength(1);
});

test("activity keeps putting it off, and two shrinks are the least interval apart", async () => {
  const { idle, shrinks } = idleShrink(() => 0, 1500);
  for (let i = 0; i < 10; i++) {
    idle.touch();
    await Bun.sleep(40);
  }
  expect(shrinks).toHaveLength(0);
  await Bun.sleep(500);
  expect(shrinks).toHaveLength(1);
  idle.touch();
  await Bun.sleep(500);
  expect(shrinks).toHaveLength(1);
  await Bun.sleep(1200);
  expect(shrinks).toHaveLength(2);
  expect(shrinks[1]! - shrinks[0]!).toBeGreaterThanOrEqual(1400);
});

test("the caches are released before the shrink, and one that fails does not stop it", async () => {
  const order: string[] = [];
  let fail = false;
  const idle = new IdleShrink({
    running: () => 0,
    delayMs: 150,
    minIntervalMs: 0,
    release: () => {
      order.push("release");
      if (fail) throw new Error("the store is closing");
    },
    shrink: () => order.push("shrink"),
  });
  started.push(idle);
  idle.start();
  idle.touch();
  await Bun.sleep(500);
  expect(order).toEqual(["release", "shrink"]);
  fail = true;
  idle.touch();
  await Bun.sleep(500);
  expect(order).toEqual(["release", "shrink", "release", "shrink"]);
});

test("the real shrink runs on this Bun", () => {
  expect(typeof (Bun as { shrink?: unknown }).shrink).toBe("function");
  shrinkNow();
});
