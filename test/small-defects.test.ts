// Small defects of the daemon, each through the real daemon (a loopback port, real SQLite, real
// child processes): every bad input gets a clear 4xx (or 507) that says what to fix, loses nothing
// and leaves no staging folder behind.
import { afterAll, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { unzipSync, zipSync } from "fflate";
import { pack } from "tar-stream";
import { loadConfig } from "../src/config/config.ts";
import * as disk from "../src/storage/disk.ts";
import {
  scriptFile,
  stagedUploads,
  startTestDaemon,
  type TestDaemon,
  TOKEN,
  tempDir,
} from "./helpers/daemon.ts";
import { eventually } from "./helpers/procs.ts";

const ORIGIN = "http://dashboard.lan:8080";
let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon({ SLOTS: "cpu:2", UPLOAD_IDLE_TIMEOUT: "1", CORS_ORIGINS: ORIGIN });
});
afterAll(() => d.close());

const QUICK = "export function main() { return 1; }";
const uuidOf = async (res: Response) => ((await res.json()) as { uuid: string }).uuid;
const staged = () => stagedUploads(d.dataDir);
const jobCount = async () => ((await (await d.api("/jobs")).json()) as { jobs: unknown[] }).jobs.length;

/** Asserts an error answer in the envelope with `status`; returns its `details` text. */
async function expectError(res: Response, status: number, ...words: string[]): Promise<string> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${text}`);
  const details = (JSON.parse(text) as { detail: { code: number; details: string } }).detail.details;
  for (const word of words) expect(details).toContain(word);
  return details;
}

async function tarOf(files: Record<string, string>): Promise<Uint8Array> {
  const tar = pack();
  const chunks: Uint8Array[] = [];
  tar.on("data", (chunk) => {
    chunks.push(chunk as Uint8Array);
  });
  const ended = new Promise<void>((resolve) => tar.on("end", () => resolve()));
  for (const [name, content] of Object.entries(files)) tar.entry({ name }, content);
  tar.finalize();
  await ended;
  return new Uint8Array(Buffer.concat(chunks));
}

/**
 * Opens a raw connection and sends `head` (the headers and the first body bytes); `answer` is what
 * the server sent by the time it closed the connection.
 */
function rawRequest(head: string): { socket: Socket; answer: Promise<string> } {
  const url = new URL(d.url);
  const socket = connect(Number(url.port), url.hostname);
  socket.write(head);
  let data = "";
  socket.on("data", (chunk) => {
    data += chunk.toString("latin1");
  });
  const answer = new Promise<string>((resolve) => {
    socket.on("close", () => resolve(data));
    socket.on("error", () => resolve(data));
  });
  return { socket, answer };
}

describe("(a) a multipart body that ends inside a part", () => {
  test("a file part cut short answers 400 saying the body is incomplete, and nothing is staged", async () => {
    const boundary = "----pxs-truncated";
    const body =
      `--${boundary}\r\nContent-Disposition: form-data; name="script"; filename="job.ts"\r\n` +
      `Content-Type: text/typescript\r\n\r\n${QUICK}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n` +
      "x".repeat(5000); // no closing boundary: the body ends in the middle of the file part
    const before = await jobCount();
    const res = await d.api("/jobs", {
      method: "POST",
      headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
      body,
    });
    await expectError(res, 400, "ended before the form was complete");
    expect(staged()).toEqual([]);
    expect(await jobCount()).toBe(before);
  });
});

describe("(b) an archive the disk cannot take while it is extracted", () => {
  // Filling a real disk in a test is neither quick nor safe. Instead the write of each extracted
  // chunk (disk.ts writeFully, the call a full disk fails in) throws the ENOSPC a full disk gives;
  // everything around it (the tar reader, its error handling, the mapping to 507) is the real code.
  test.each(["tar", "tar.gz", "zip"])("a .%s answers 507, not 400, and leaves nothing", async (kind) => {
    const spy = spyOn(disk, "writeFully").mockImplementation(async () => {
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    });
    try {
      const tar = await tarOf({ "model/part.obj": "v 0 0 0\n".repeat(100) });
      const bytes =
        kind === "tar"
          ? tar
          : kind === "tar.gz"
            ? gzipSync(tar)
            : zipSync({ "model/part.obj": new TextEncoder().encode("v 0 0 0\n") });
      const before = await jobCount();
      const res = await d.submit({ script: scriptFile(QUICK), file: new File([bytes], `in.${kind}`) });
      await expectError(res, 507, `The disk filled up while 'in.${kind}' was extracted`);
      expect(spy).toHaveBeenCalled();
      expect(staged()).toEqual([]);
      expect(await jobCount()).toBe(before);
    } finally {
      spy.mockRestore();
    }
  });
});

describe("(c) numbers in a script's schedule declaration", () => {
  const declared = async (source: string, file = "job.ts") => {
    // The queue "idle" has no slot here: the job waits, and its declaration can be read back.
    const res = await d.submit({
      script: scriptFile(source, file),
      config: JSON.stringify({ queue: "idle" }),
    });
    expect(res.status).toBe(200);
    const details = (await (await d.api(`/jobs/${await uuidOf(res)}/details`)).json()) as Record<
      string,
      unknown
    >;
    return { time_limit: details.time_limit, priority: details.priority };
  };

  test("TS/JS: exponents, separators, hex and fractions are read whole", async () => {
    const ts = (schedule: string) => `export const schedule = { ${schedule} };\n${QUICK}`;
    expect(await declared(ts("timeLimit: 2e3, priority: 1_0"))).toEqual({ time_limit: 2000, priority: 10 });
    expect(await declared(ts("timeLimit: 1_000, priority: -0x10"))).toEqual({
      time_limit: 1000,
      priority: -16,
    });
    expect(await declared(ts("time_limit: 1.5e1, priority: 0b11"))).toEqual({ time_limit: 15, priority: 3 });
    expect(await declared(ts("timeLimit: 0.5, priority: 0o7"))).toEqual({ time_limit: 1, priority: 7 });
  });

  test("TS/JS: a number that is not a plain finite literal answers 400 naming the key", async () => {
    const refuse = async (schedule: string, ...words: string[]) =>
      expectError(
        await d.submit({ script: scriptFile(`export const schedule = { ${schedule} };\n${QUICK}`) }),
        400,
        "schedule declaration is invalid",
        ...words,
      );
    await refuse("priority: 2n", "priority", "2n");
    await refuse("timeLimit: 1e999", "timeLimit", "finite");
    await refuse("priority: 1e4", "priority", "-1000 to 1000");
    expect(staged()).toEqual([]);
  });

  test("Python: @pixyz_schedule numbers in hex, octal, binary, with separators and exponents", async () => {
    const py = (args: string) => `@pixyz_schedule(${args})\ndef main(pc, params):\n    return 1\n`;
    expect(await declared(py("time_limit=0x10, priority=1_0"), "job.py")).toEqual({
      time_limit: 16,
      priority: 10,
    });
    expect(await declared(py("time_limit=2e3, priority=-0o7"), "job.py")).toEqual({
      time_limit: 2000,
      priority: -7,
    });
    expect(await declared(py("time_limit=1_2.5, priority=0B1_1"), "job.py")).toEqual({
      time_limit: 13,
      priority: 3,
    });
  });
});

describe("(d) ranges of an empty output file", () => {
  let uuid: string;
  beforeAll(async () => {
    uuid = await uuidOf(
      await d.submit({
        script: scriptFile(`export async function main(ctx) {
          await Bun.write(ctx.outputDir("empty.txt"), "");
          await Bun.write(ctx.outputDir("five.txt"), "12345");
          return 1;
        }`),
      }),
    );
    expect((await d.waitFor(uuid)).status).toBe("SUCCESS");
  });
  const get = (file: string, range?: string) =>
    d.api(`/jobs/${uuid}/outputs/${file}`, range ? { headers: { Range: range } } : {});

  test("every range of an empty file is 416 with bytes */0; without a range it is a 200 of 0 bytes", async () => {
    for (const range of ["bytes=-5", "bytes=-1", "bytes=0-", "bytes=0-0", "bytes=-0"]) {
      const res = await get("empty.txt", range);
      await expectError(res, 416, "outside the file (0 bytes)");
      expect(res.headers.get("content-range")).toBe("bytes */0");
    }
    const whole = await get("empty.txt");
    expect(whole.status).toBe(200);
    expect(whole.headers.get("content-length")).toBe("0");
    expect(await whole.text()).toBe("");
  });

  test("a suffix range longer than a file still gets the whole file as 206", async () => {
    const res = await get("five.txt", "bytes=-50");
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe("bytes 0-4/5");
    expect(await res.text()).toBe("12345");
  });
});

describe("(e) an upload that stalls or trickles (UPLOAD_IDLE_TIMEOUT=1)", () => {
  const head = (length: number) =>
    `POST /jobs HTTP/1.1\r\nHost: localhost\r\nx-api-key: ${TOKEN}\r\n` +
    `Content-Type: multipart/form-data; boundary=b\r\nContent-Length: ${length}\r\n\r\n` +
    `--b\r\nContent-Disposition: form-data; name="file"; filename="slow.bin"\r\n\r\nabc`;

  test("a body that stops arriving is ended with 408, its connection closed, its staging folder removed", async () => {
    const started = Date.now();
    const { socket, answer } = rawRequest(head(100_000));
    try {
      expect(await eventually(() => staged().length === 1, 1000)).toBe(true); // the upload began
      const text = await answer; // the server closed the connection
      expect(text).toMatch(/^HTTP\/1\.1 408/);
      expect(text.toLowerCase()).toContain("connection: close");
      expect(text).toContain("UPLOAD_IDLE_TIMEOUT");
      expect(Date.now() - started).toBeLessThan(5000);
      expect(await eventually(() => staged().length === 0, 2000)).toBe(true);
    } finally {
      socket.destroy();
    }
  });

  test("a body that trickles a byte at a time is ended too", async () => {
    const { socket, answer } = rawRequest(head(100_000));
    const drip = setInterval(() => socket.writable && socket.write("x"), 100);
    try {
      const text = await answer;
      expect(text).toMatch(/^HTTP\/1\.1 408/);
      expect(await eventually(() => staged().length === 0, 2000)).toBe(true);
    } finally {
      clearInterval(drip);
      socket.destroy();
    }
  });

  test("the setting: 30 s by default, whole seconds from 1, named in a refusal", () => {
    expect(loadConfig({ env: {} }).uploadIdleTimeoutS).toBe(30);
    for (const bad of ["0", "soon", "1.5"]) {
      expect(() => loadConfig({ env: { UPLOAD_IDLE_TIMEOUT: bad } })).toThrow(/invalid UPLOAD_IDLE_TIMEOUT/);
    }
  });
});

describe("(f) a hard link in outputs/ to a file outside the job", () => {
  test("is not served, listed or zipped; the job's own files are", async () => {
    const outside = tempDir("pxs-secret-");
    const secret = join(outside, "secret.txt");
    writeFileSync(secret, "the host's secret");
    try {
      const uuid = await uuidOf(
        await d.submit({
          script: scriptFile(`import { linkSync } from "node:fs";
            export async function main(ctx, params) {
              await Bun.write(ctx.outputDir("own.txt"), "mine");
              linkSync(params.secret, ctx.outputDir("leak.txt"));
              return 1;
            }`),
          params: JSON.stringify({ secret }),
        }),
      );
      expect((await d.waitFor(uuid)).status).toBe("SUCCESS");
      const leak = await d.api(`/jobs/${uuid}/outputs/leak.txt`);
      const details = await expectError(leak, 403, "outputs/leak.txt", "not served", "hard link");
      expect(details).not.toContain("the host's secret");
      expect(await (await d.api(`/jobs/${uuid}/outputs/own.txt`)).text()).toBe("mine");
      const listed = ((await (await d.api(`/jobs/${uuid}/outputs`)).json()) as { outputs: string[] }).outputs;
      expect(listed).toEqual(["own.txt"]);
      let archive = await d.api(`/jobs/${uuid}/outputs/archive`);
      for (let i = 0; archive.status === 425 && i < 100; i++) {
        await archive.arrayBuffer();
        await Bun.sleep(50);
        archive = await d.api(`/jobs/${uuid}/outputs/archive`);
      }
      expect(archive.status).toBe(200);
      expect(Object.keys(unzipSync(new Uint8Array(await archive.arrayBuffer())))).toEqual(["own.txt"]);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe("(g) numbers JSON cannot store", () => {
  test("params or config holding 1e999 answers 400 naming where, nothing stored", async () => {
    const before = await jobCount();
    await expectError(
      await d.submit({ script: scriptFile(QUICK), params: '{"mesh": {"scale": [1, 1e999]}}' }),
      400,
      "Invalid JSON string for 'params'",
      "params.mesh.scale[1]",
      "not a finite number",
    );
    await expectError(
      await d.submit({ script: scriptFile(QUICK), params: "-1e999" }),
      400,
      "Invalid JSON string for 'params'",
    );
    await expectError(
      await d.submit({ script: scriptFile(QUICK), config: '{"time_limit": 1e999}' }),
      400,
      "Invalid JSON string for 'config'",
      "config.time_limit",
    );
    expect(await jobCount()).toBe(before);
    expect(staged()).toEqual([]);
  });
});

describe("(h) the CORS preflight", () => {
  test("lists only the methods the API serves", async () => {
    const res = await d.api("/jobs", {
      method: "OPTIONS",
      auth: false,
      headers: { Origin: ORIGIN, "Access-Control-Request-Method": "DELETE" },
    });
    expect(res.status).toBe(204);
    const listed = (res.headers.get("access-control-allow-methods") ?? "").split(",").sort();
    expect(listed).toEqual(["DELETE", "GET", "HEAD", "OPTIONS", "POST"]);
    // Every method of the OpenAPI description is among them (HEAD and OPTIONS come with GET and CORS).
    const spec = (await (await d.api("/openapi.json")).json()) as { paths: Record<string, object> };
    const served = new Set(
      Object.values(spec.paths).flatMap((ops) => Object.keys(ops).map((m) => m.toUpperCase())),
    );
    for (const method of served) expect(listed).toContain(method);
  });
});

describe("(i) a job cancelled inside a step", () => {
  test("shows the open step closed with a real duration, as its attempt does", async () => {
    const uuid = await uuidOf(
      await d.submit({
        script: scriptFile(`export async function main(ctx) {
          ctx.progress.total(2);
          ctx.progress.next("long step");
          await Bun.sleep(60_000);
        }`),
      }),
    );
    type Details = {
      status: string;
      steps: { duration: number; info: string }[];
      attempts: { stopped: string | null; steps: { duration: number }[] | null }[];
    };
    const details = async () => (await (await d.api(`/jobs/${uuid}/details`)).json()) as Details;
    const deadline = Date.now() + 10_000;
    while ((await details()).steps.length === 0 && Date.now() < deadline) await Bun.sleep(25);
    expect((await details()).steps).toEqual([{ duration: -1, info: "long step" }]);
    await Bun.sleep(200);
    expect((await d.api(`/jobs/${uuid}`, { method: "DELETE" })).status).toBe(200);
    let after = await details();
    while (after.attempts[0]?.stopped === null && Date.now() < deadline) {
      await Bun.sleep(25);
      after = await details();
    }
    expect(after.status).toBe("REVOKED");
    expect(after.steps).toHaveLength(1);
    expect(after.steps[0]!.info).toBe("long step");
    expect(after.steps[0]!.duration).toBeGreaterThanOrEqual(0.2);
    expect(after.steps).toEqual(after.attempts[0]!.steps as never);
  }, 15_000);
});
