// The SSE writer behind /events and the log follower, on a real Bun server: keepalive comments in
// silence, a bounded queue for clients that do not read, and an end when the daemon stops.
import { afterAll, expect, test } from "bun:test";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { SseSender } from "../src/api/routes/sse.ts";
import { readSse } from "../src/cli/client/sse.ts";

const stopping = new AbortController();
const app = new Hono();
app.get("/quiet", (c) =>
  streamSSE(c, async (stream) => {
    const sender = new SseSender(stream, { heartbeatMs: 50, maxQueued: 100 });
    setTimeout(() => sender.end(), 400);
    await sender.run();
  }),
);
app.get("/flood", (c) =>
  streamSSE(c, async (stream) => {
    const sender = new SseSender(stream, { heartbeatMs: 10_000, maxQueued: 5 });
    const accepted = Array.from({ length: 20 }, (_, i) => sender.send({ event: "n", data: String(i) }));
    expect(accepted.filter(Boolean)).toHaveLength(5);
    await sender.run();
  }),
);
app.get("/until-stop", (c) =>
  streamSSE(c, async (stream) => {
    const sender = new SseSender(stream, { heartbeatMs: 10_000, maxQueued: 100 }, stopping.signal);
    sender.send({ event: "hello", data: "{}" });
    await sender.run();
  }),
);
const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
afterAll(() => server.stop(true));
const url = (path: string) => `http://127.0.0.1:${server.port}${path}`;

test("silence is filled with keepalive comments, which event readers skip", async () => {
  const text = await (await fetch(url("/quiet"))).text();
  expect(text.match(/^: keepalive$/gm)?.length ?? 0).toBeGreaterThanOrEqual(3);
  const events = [];
  for await (const event of readSse((await fetch(url("/quiet"))).body!)) events.push(event);
  expect(events).toEqual([]);
});

test("a client with too much waiting gets what was queued, then overflow, then the end", async () => {
  const events = [];
  for await (const event of readSse((await fetch(url("/flood"))).body!)) events.push(event);
  expect(events.map((e) => `${e.event}:${e.event === "n" ? e.data : ""}`)).toEqual([
    "n:0",
    "n:1",
    "n:2",
    "n:3",
    "n:4",
    "overflow:",
  ]);
});

test("the stopping signal ends open streams with a closing event", async () => {
  const res = await fetch(url("/until-stop"));
  const events: string[] = [];
  const reading = (async () => {
    for await (const event of readSse(res.body!)) events.push(event.event);
  })();
  await Bun.sleep(100);
  expect(events).toEqual(["hello"]);
  stopping.abort();
  await reading;
  expect(events).toEqual(["hello", "closing"]);
  // A stream opened after the stop begins ends at once.
  const late = [];
  for await (const event of readSse((await fetch(url("/until-stop"))).body!)) late.push(event.event);
  expect(late).toEqual(["closing"]);
});
