// What a security review found, each through the real daemon (or the unit it lives in): requests
// and jobs that could leak subscriptions, write outside a job's folder, answer 500 for bad input,
// hold a slot for good, or grow the daemon's memory without bound.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { strToU8, zipSync } from "fflate";
import { pack } from "tar-stream";
import { newSink, pump } from "../src/runner/output-pump.ts";
import { scriptFile, stagedUploads, startTestDaemon, type TestDaemon, tempDir } from "./helpers/daemon.ts";
import { eventually } from "./helpers/procs.ts";

const uuidOf = async (res: Response) => ((await res.json()) as { uuid: string }).uuid;
const detailOf = async (res: Response) =>
  ((await res.json()) as { detail: { details: string } }).detail.details;

async function tarBytes(entries: { name: string; type: "symlink" | "file"; linkname?: string }[]) {
  const tar = pack();
  const chunks: Uint8Array[] = [];
  tar.on("data", (chunk) => {
    chunks.push(chunk as Uint8Array);
  });
  const ended = new Promise<void>((resolve) => tar.on("end", () => resolve()));
  for (const entry of entries) {
    await new Promise<void>((resolve, reject) =>
      tar.entry(entry, "", (error) => (error ? reject(error) : resolve())),
    );
  }
  tar.finalize();
  await ended;
  return new Uint8Array(Buffer.concat(chunks));
}

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon({ SLOTS: "cpu:1" });
});
afterAll(() => d.close());

const SLEEPER = `export async function main() { await Bun.sleep(1500); return 1; }`;

describe("requests", () => {
  test("HEAD on a live stream (/events, a followed log) leaves no subscription behind", async () => {
    const uuid = await uuidOf(await d.submit({ script: scriptFile(SLEEPER) }));
    await d.waitFor(uuid, ["STARTED"]);
    const before = d.bus.size;
    for (let i = 0; i < 3; i++) {
      expect((await d.api("/events", { method: "HEAD" })).status).toBe(200);
      expect((await d.api(`/jobs/${uuid}/logs?follow=true`, { method: "HEAD" })).status).toBe(200);
    }
    expect(await eventually(() => d.bus.size === before, 2000)).toBe(true);
    // A HEAD on a download still says how long the file is.
    await d.waitFor(uuid);
    const head = await d.api(`/jobs/${uuid}/logs`, { method: "HEAD" });
    expect(Number(head.headers.get("content-length"))).toBeGreaterThan(0);
  });

  test("params nested deeper than JSON can be stored answer 400, not 500", async () => {
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    const res = await d.submit({ script: scriptFile(SLEEPER), params: deep });
    expect(res.status).toBe(400);
    expect(await detailOf(res)).toContain("nested deeper than 1000 levels");
  });

  test("a schedule declaration with a JS-only escape answers 400 naming it, not 500", async () => {
    for (const literal of [`'\\q'`, `"\\x41"`, `'it\\'s'`]) {
      const source = `export const schedule = { queue: ${literal} }; export function main() {}`;
      const res = await d.submit({ script: scriptFile(source) });
      expect(res.status).toBe(400);
      expect(await detailOf(res)).toContain("schedule declaration is invalid: queue");
    }
  });

  test("/metrics names no job, no job name and no params", async () => {
    const uuid = await uuidOf(
      await d.submit({
        script: scriptFile(`export function main() { return 1; }`),
        name: "secret-job-name",
        params: JSON.stringify({ secret_key: "secret-value" }),
      }),
    );
    await d.waitFor(uuid);
    await d.api(`/jobs/${uuid}/outputs/secret-file.txt`);
    const text = await (await fetch(`${d.url}/metrics`)).text();
    expect(text).toContain("pixyz_jobs_finished_total");
    for (const secret of [uuid, "secret-job-name", "secret_key", "secret-value", "secret-file"]) {
      expect(text).not.toContain(secret);
    }
  });
});

describe("archive inputs", () => {
  test("a chain of links that leads outside cannot make anything outside, even when refused", async () => {
    // Each target is lexically inside; together `up4` is the data folder itself.
    const archive = await tarBytes([
      { name: "c", type: "symlink", linkname: "." },
      { name: "up1", type: "symlink", linkname: "c/.." },
      { name: "up2", type: "symlink", linkname: "up1/.." },
      { name: "up3", type: "symlink", linkname: "up2/.." },
      { name: "up4", type: "symlink", linkname: "up3/.." },
      { name: "up4/escaped/link", type: "symlink", linkname: "x" },
    ]);
    const res = await d.submit({ script: scriptFile(SLEEPER), file: new File([archive], "chain.tar") });
    expect(res.status).toBe(400);
    expect(existsSync(join(d.dataDir, "escaped"))).toBe(false);
    expect(stagedUploads(d.dataDir)).toEqual([]);
  });

  test("a damaged zip (central directory, local header) answers 400, not 500", async () => {
    const good = Buffer.from(zipSync({ "a.txt": strToU8("hello") }));
    const cdOffset = good.readUInt32LE(good.length - 22 + 16);
    const longExtra = Buffer.from(good);
    longExtra.writeUInt16LE(0xffff, cdOffset + 30); // extra field length past the directory
    const noLocal = Buffer.from(good);
    noLocal.writeUInt32LE(0, 0); // the local header's signature
    for (const bytes of [longExtra, noLocal]) {
      const res = await d.submit({ script: scriptFile(SLEEPER), file: new File([bytes], "bad.zip") });
      expect(res.status).toBe(400);
      expect(await detailOf(res)).toContain("it is not a readable zip file");
    }
  });
});

describe("jobs cannot hold their slot or grow the daemon", () => {
  /** The next job on the one slot still runs: the slot came back. */
  async function slotIsFree(): Promise<void> {
    const uuid = await uuidOf(await d.submit({ script: scriptFile(`export function main() { return 7; }`) }));
    expect((await d.waitFor(uuid, undefined, 10_000)).result).toBe(7);
  }

  test("a result nested too deep to store, or an error that is not text: FAILURE, slot free", async () => {
    const lines = [
      `'{"t":"result","value":' + "[".repeat(100000) + "]".repeat(100000) + '}\\n'`,
      `'{"t":"error","name":{},"message":[1],"stack":{"a":1}}\\n'`,
    ];
    for (const line of lines) {
      const source = `import { writeSync } from "node:fs";
        export function main() { writeSync(3, ${line}); process.exit(0); }`;
      const uuid = await uuidOf(await d.submit({ script: scriptFile(source) }));
      const details = await d.waitFor(uuid, undefined, 10_000);
      expect(details.status).toBe("FAILURE");
      expect(typeof details.error).toBe("string");
    }
    await slotIsFree();
  });

  test("a channel line of hundreds of MiB is dropped as it comes, not buffered", async () => {
    const source = `import { writeSync } from "node:fs";
      export function main() {
        const mib = "a".repeat(1 << 20);
        for (let i = 0; i < 300; i++) writeSync(3, mib);
        writeSync(3, "\\n");
        return "after";
      }`;
    const uuid = await uuidOf(await d.submit({ script: scriptFile(source) }));
    const details = await d.waitFor(uuid, undefined, 15_000);
    expect(details.result).toBe("after");
    expect(await (await d.api(`/jobs/${uuid}/logs`)).text()).toContain("bytes, dropped");
  });

  test.each(["true", "false"])(
    "a job log the disk cannot take (ENOSPC) ends the attempt (WARM_CHILDREN=%s)",
    async (warm) => {
      const own = await startTestDaemon({ SLOTS: "cpu:1", WARM_CHILDREN: warm });
      try {
        const first = await uuidOf(await own.submit({ script: scriptFile(SLEEPER) }));
        await own.waitFor(first, ["STARTED"]);
        const chatty = `export async function main() {
          for (let i = 0; i < 1000; i++) console.log("line", i);
          await Bun.sleep(300);
          return 1;
        }`;
        const uuid = await uuidOf(await own.submit({ script: scriptFile(chatty) }));
        const log = join(own.dataDir, "jobs", uuid, "job.log");
        rmSync(log, { force: true });
        symlinkSync("/dev/full", log); // every write: ENOSPC
        const details = await own.waitFor(uuid, undefined, 10_000);
        expect(["SUCCESS", "FAILURE"]).toContain(details.status as string);
        const next = await uuidOf(
          await own.submit({ script: scriptFile(`export function main() { return 2; }`) }),
        );
        expect((await own.waitFor(next, undefined, 10_000)).result).toBe(2);
      } finally {
        await own.close();
      }
    },
  );

  test("a warm child's output copy keeps draining when the log cannot take it", async () => {
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (++pulled > 100) controller.close();
        else controller.enqueue(new Uint8Array(64 * 1024));
      },
    });
    const fd = openSync("/dev/full", "w");
    await pump(stream, { ...newSink(), fd }); // resolves: no rejection without a handler, no stalled pipe
    expect(pulled).toBe(101);
  });

  test("a job sees none of the daemon's secrets in its environment", async () => {
    const saved = process.env.GOD_PASSWORD_SHA256;
    process.env.PIXYZ_REVIEW_SECRET = "x";
    process.env.GOD_PASSWORD_SHA256 = "0".repeat(64);
    const own = await startTestDaemon({ SLOTS: "cpu:1" });
    try {
      const source = `export function main() {
        return Object.keys(process.env).filter((k) => /SECRET|PASSWORD|TOKEN/.test(k));
      }`;
      const uuid = await uuidOf(await own.submit({ script: scriptFile(source) }));
      expect((await own.waitFor(uuid)).result).toEqual([]);
    } finally {
      delete process.env.PIXYZ_REVIEW_SECRET;
      if (saved === undefined) delete process.env.GOD_PASSWORD_SHA256;
      else process.env.GOD_PASSWORD_SHA256 = saved;
      await own.close();
    }
  });
});

describe("the token file", () => {
  test("an empty api-token file gets a new token: an empty x-api-key opens nothing", async () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, "api-token"), "\n", { mode: 0o600 });
    const own = await startTestDaemon({ GOD_PASSWORD_SHA256: "" }, dataDir);
    try {
      const res = await fetch(`${own.url}/jobs`, { headers: { "x-api-key": "" } });
      expect(res.status).toBe(401);
      const token = readFileSync(join(dataDir, "api-token"), "utf8").trim();
      expect(token.length).toBeGreaterThanOrEqual(32);
      expect(statSync(join(dataDir, "api-token")).mode & 0o777).toBe(0o600);
      expect((await fetch(`${own.url}/jobs`, { headers: { "x-api-key": token } })).status).toBe(200);
    } finally {
      await own.close();
    }
  });
});
