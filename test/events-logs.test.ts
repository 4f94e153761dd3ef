// Live views through the real API: GET /events (SSE from the event bus) and GET /jobs/{uuid}/logs
// (offsets, and the SSE follow mode), against a real daemon running real child processes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readSse, type SseEvent } from "../src/cli/client/sse.ts";
import { scriptFile, startTestDaemon, type TestDaemon } from "./helpers/daemon.ts";
import { eventually } from "./helpers/procs.ts";

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(() => d.close());

/** Opens an SSE stream and reads it in the background; `next` waits for the next matching event. */
async function openStream(path: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const res = await d.api(path, { signal: controller.signal, headers });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  const events: (SseEvent & { receivedAt: number })[] = [];
  let ended = false;
  const waiter: { notify: (() => void) | null } = { notify: null };
  const reading = (async () => {
    try {
      for await (const event of readSse(res.body!)) {
        events.push({ ...event, receivedAt: Date.now() });
        waiter.notify?.();
      }
    } catch {
      // aborted by the test
    }
    ended = true;
    waiter.notify?.();
  })();
  return {
    events,
    get ended() {
      return ended;
    },
    /** Waits until `check` holds over the events received so far. */
    async until(check: (events: SseEvent[]) => boolean, timeoutMs = 20000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!check(events)) {
        if (ended) throw new Error(`the stream ended before the condition held: ${JSON.stringify(events)}`);
        if (Date.now() > deadline) throw new Error(`timed out; events so far: ${JSON.stringify(events)}`);
        await new Promise<void>((resolve) => {
          waiter.notify = resolve;
          setTimeout(resolve, 100);
        });
      }
    },
    async close() {
      controller.abort();
      await reading;
    },
    reading,
  };
}

const STEPPED = `
  export async function main(ctx, params) {
    ctx.progress.total(3);
    for (const name of ["import", "repair", "export"]) {
      ctx.progress.next(name);
      await Bun.sleep(params.pause);
    }
    return { ok: true };
  }`;

async function submit(fields: Record<string, string | File>): Promise<string> {
  const res = await d.submit(fields);
  expect(res.status).toBe(200);
  return ((await res.json()) as { uuid: string }).uuid;
}

describe("GET /events", () => {
  test("delivers a job's transitions in order, with its progress and steps between them", async () => {
    const stream = await openStream("/events");
    await stream.until((events) => events.some((e) => e.event === "ready"));
    const uuid = await submit({ script: scriptFile(STEPPED), params: JSON.stringify({ pause: 150 }) });
    await stream.until((events) =>
      events.some(
        (e) => e.event === "status" && JSON.parse(e.data).job === uuid && JSON.parse(e.data).to === "SUCCESS",
      ),
    );
    await stream.close();

    const mine = stream.events
      .filter((e) => e.event === "status" || e.event === "progress")
      .map((e) => ({ event: e.event, data: JSON.parse(e.data) as Record<string, unknown> }))
      .filter((e) => e.data.job === uuid);
    const statuses = mine.filter((e) => e.event === "status").map((e) => [e.data.from, e.data.to]);
    expect(statuses).toEqual([
      [null, "PENDING"],
      ["PENDING", "STARTED"],
      ["STARTED", "SUCCESS"],
    ]);
    const startedAt = mine.findIndex((e) => e.data.to === "STARTED");
    const successAt = mine.findIndex((e) => e.data.to === "SUCCESS");
    const progress = mine.filter((e) => e.event === "progress");
    expect(progress.length).toBeGreaterThanOrEqual(2);
    for (const p of progress) {
      const at = mine.indexOf(p);
      expect(at).toBeGreaterThan(startedAt);
      expect(at).toBeLessThan(successAt);
    }
    // The steps are seen live, in order, with the current one named.
    const steps = progress.map((p) => p.data.step);
    expect(steps.filter((s, i) => s !== steps[i - 1])).toEqual(["import", "repair", "export"]);
    expect(progress.at(-1)!.data.steps).toHaveLength(3);
    const percents = progress.map((p) => p.data.progress as number);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    // Times are ISO strings, in order.
    const times = mine.filter((e) => e.event === "status").map((e) => Date.parse(e.data.at as string));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  test("?job= narrows to one job: its current state first, then only its events, then the stream ends", async () => {
    const other = await submit({ script: scriptFile(STEPPED), params: JSON.stringify({ pause: 100 }) });
    const uuid = await submit({ script: scriptFile(STEPPED), params: JSON.stringify({ pause: 300 }) });
    await d.waitFor(uuid, ["STARTED"]);
    const stream = await openStream(`/events?job=${uuid}`);
    await stream.reading; // ends by itself once the job is finished
    const kinds = stream.events.map((e) => e.event);
    expect(kinds[0]).toBe("ready");
    expect(kinds[1]).toBe("state");
    expect(kinds.at(-1)).toBe("end");
    expect(JSON.parse(stream.events[1]!.data)).toMatchObject({ job: uuid, status: "STARTED", queue: "cpu" });
    expect(JSON.parse(stream.events.at(-1)!.data)).toEqual({ job: uuid, status: "SUCCESS" });
    for (const e of stream.events.slice(1, -1)) expect(JSON.parse(e.data).job).toBe(uuid);
    expect(stream.events.some((e) => e.data.includes(other))).toBe(false);
    expect(stream.events.some((e) => e.event === "progress")).toBe(true);
    expect(stream.events.filter((e) => e.event === "status").map((e) => JSON.parse(e.data).to)).toContain(
      "SUCCESS",
    );

    // A finished job: the state and the end at once.
    const done = await openStream(`/events?job=${uuid}`);
    await done.reading;
    expect(done.events.map((e) => e.event)).toEqual(["ready", "state", "end"]);
  });

  test("a client that goes away is unsubscribed from the bus", async () => {
    const before = d.bus.size;
    const streams = await Promise.all([openStream("/events"), openStream("/events")]);
    for (const s of streams) await s.until((events) => events.some((e) => e.event === "ready"));
    expect(d.bus.size).toBe(before + 2);
    for (const s of streams) await s.close();
    expect(await eventually(() => d.bus.size === before, 3000)).toBe(true);
  });

  test("needs the token, a valid uuid, and a known job", async () => {
    const noToken = await d.api("/events", { auth: false });
    expect(noToken.status).toBe(401);
    const bad = await d.api("/events?job=nope");
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain("job");
    const unknown = await d.api("/events?job=0b8e5b9a-2c4d-4f6e-9a1b-3c5d7e9f1a2b");
    expect(unknown.status).toBe(404);
  });
});

const CHATTY = `
  export async function main(ctx, params) {
    for (let i = 0; i < params.lines; i++) {
      console.log(\`line \${i} é€😀\`);
      await Bun.sleep(params.pause);
    }
    console.error("to stderr");
    return {};
  }`;

describe("GET /jobs/{uuid}/logs", () => {
  test("answers from a byte offset, with the offset to ask for next", async () => {
    const uuid = await submit({ script: scriptFile(CHATTY), params: JSON.stringify({ lines: 5, pause: 0 }) });
    await d.waitFor(uuid);
    const full = await d.api(`/jobs/${uuid}/logs`);
    expect(full.status).toBe(200);
    expect(full.headers.get("content-type")).toContain("text/plain");
    expect(full.headers.get("x-job-status")).toBe("SUCCESS");
    const bytes = new Uint8Array(await full.arrayBuffer());
    const text = new TextDecoder().decode(bytes);
    for (let i = 0; i < 5; i++) expect(text).toContain(`line ${i} é€😀\n`);
    expect(text).toContain("to stderr");
    expect(full.headers.get("x-log-offset")).toBe(String(bytes.length));
    expect(full.headers.get("x-log-size")).toBe(String(bytes.length));

    // What the route answers is the file, byte for byte.
    const onDisk = new Uint8Array(await Bun.file(`${d.dataDir}/jobs/${uuid}/job.log`).arrayBuffer());
    expect(bytes).toEqual(onDisk);

    const offset = text.indexOf("line 3");
    const byteOffset = new TextEncoder().encode(text.slice(0, offset)).length;
    const tail = await d.api(`/jobs/${uuid}/logs?offset=${byteOffset}`);
    expect(tail.status).toBe(200);
    expect(new Uint8Array(await tail.arrayBuffer())).toEqual(bytes.subarray(byteOffset));
    expect(tail.headers.get("x-log-offset")).toBe(String(bytes.length));

    const atEnd = await d.api(`/jobs/${uuid}/logs?offset=${bytes.length}`);
    expect(atEnd.status).toBe(200);
    expect(await atEnd.text()).toBe("");
    const past = await d.api(`/jobs/${uuid}/logs?offset=${bytes.length + 1}`);
    expect(past.status).toBe(416);
    expect(((await past.json()) as { detail: { details: string } }).detail.details).toContain("past the end");

    expect((await d.api(`/jobs/${uuid}/logs?offset=-1`)).status).toBe(400);
    expect((await d.api(`/jobs/${uuid}/logs`, { auth: false })).status).toBe(401);
    expect((await d.api("/jobs/0b8e5b9a-2c4d-4f6e-9a1b-3c5d7e9f1a2b/logs")).status).toBe(404);
  });

  test("follow=true tails the log live until the job ends, then drains and ends", async () => {
    const uuid = await submit({
      script: scriptFile(CHATTY),
      params: JSON.stringify({ lines: 6, pause: 250 }),
    });
    await d.waitFor(uuid, ["STARTED"]);
    const stream = await openStream(`/jobs/${uuid}/logs?follow=true`);
    await stream.reading;
    const logs = stream.events.filter((e) => e.event === "log");
    const end = stream.events.at(-1)!;
    expect(end.event).toBe("end");
    const endData = JSON.parse(end.data) as { status: string; offset: number };
    expect(endData.status).toBe("SUCCESS");

    // Live: the lines came in several events spread over the job's run, not in one read at the end.
    expect(logs.length).toBeGreaterThanOrEqual(3);
    expect(logs.at(-1)!.receivedAt - logs[0]!.receivedAt).toBeGreaterThan(500);
    // Contiguous byte ranges, ids = the next offset, and together exactly the file.
    let position = 0;
    let text = "";
    for (const e of logs) {
      const data = JSON.parse(e.data) as { offset: number; next: number; text: string };
      expect(data.offset).toBe(position);
      expect(e.id).toBe(String(data.next));
      expect(new TextEncoder().encode(data.text).length).toBe(data.next - data.offset);
      position = data.next;
      text += data.text;
    }
    const onDisk = await Bun.file(`${d.dataDir}/jobs/${uuid}/job.log`).text();
    expect(text).toBe(onDisk);
    expect(endData.offset).toBe(new TextEncoder().encode(onDisk).length);
    expect(text).toContain("line 5 é€😀");
    expect(text).not.toContain("\uFFFD");

    // Resuming with Last-Event-ID (or offset) sends only what follows, then the end at once.
    const cut = JSON.parse(logs[1]!.data).next as number;
    const resumed = await openStream(`/jobs/${uuid}/logs?follow=true`, { "Last-Event-ID": String(cut) });
    await resumed.reading;
    const rest = resumed.events
      .filter((e) => e.event === "log")
      .map((e) => (JSON.parse(e.data) as { text: string }).text)
      .join("");
    expect(new TextEncoder().encode(rest)).toEqual(new TextEncoder().encode(onDisk).subarray(cut));
    expect(resumed.events.at(-1)!.event).toBe("end");
  });

  test("a follower that disconnects early stops tailing and is unsubscribed", async () => {
    const before = d.bus.size;
    const uuid = await submit({
      script: scriptFile(CHATTY),
      params: JSON.stringify({ lines: 20, pause: 100 }),
    });
    await d.waitFor(uuid, ["STARTED"]);
    const stream = await openStream(`/jobs/${uuid}/logs?follow=1`);
    await stream.until((events) => events.some((e) => e.event === "log"));
    await stream.close();
    expect(await eventually(() => d.bus.size === before, 3000)).toBe(true);
    await d.waitFor(uuid);
  });
});

describe("open streams at shutdown", () => {
  test("the daemon stops promptly: /events and log followers are told and closed", async () => {
    const own = await startTestDaemon();
    let closed = false;
    try {
      const res = await own.submit({
        script: scriptFile("export async function main() { await Bun.sleep(30000); }"),
      });
      const { uuid } = (await res.json()) as { uuid: string };
      await own.waitFor(uuid, ["STARTED"]);
      const streams = await Promise.all(
        [`/events`, `/events?job=${uuid}`, `/jobs/${uuid}/logs?follow=true`].map(async (path) => {
          const stream = await own.api(path);
          expect(stream.status).toBe(200);
          const events: SseEvent[] = [];
          const reading = (async () => {
            for await (const event of readSse(stream.body!)) events.push(event);
          })();
          return { events, reading };
        }),
      );
      await Bun.sleep(300);
      const started = Date.now();
      await own.close(); // stop(2000): the running job gets 2 s, then is killed
      closed = true;
      expect(Date.now() - started).toBeLessThan(6000);
      for (const { events, reading } of streams) {
        await reading;
        expect(events.at(-1)?.event).toBe("closing");
      }
    } finally {
      if (!closed) await own.close();
    }
  }, 20000);
});
