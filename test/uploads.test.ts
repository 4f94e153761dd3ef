// Streaming uploads through the real API: bodies go to disk as they arrive (flat memory), the size
// limit answers 413 with the limit, a low disk answers 507 before writing, and a failed or aborted
// upload leaves no file behind.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, rmSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { SMALL_PART_BYTES } from "../src/storage/multipart.ts";
import { FROM_SOURCE } from "./helpers/cli.ts";
import {
  scriptFile,
  stagedUploads,
  startTestDaemon,
  type TestDaemon,
  TOKEN,
  tempDir,
} from "./helpers/daemon.ts";
import { startServeProcess } from "./helpers/serve-process.ts";

const SIZE_SCRIPT = `
  export async function main(ctx) {
    return { size: Bun.file(ctx.inputFile()).size, name: ctx.inputFile().split("/").pop() };
  }`;

const jobDirs = (dataDir: string) => readdirSync(join(dataDir, "jobs")).filter((n) => n !== ".staging");

/** Nothing staged, and no new job folder: what a refused or aborted upload must leave. */
function expectNothingStored(dataDir: string, before: string[] = []): void {
  expect(stagedUploads(dataDir)).toEqual([]);
  expect(jobDirs(dataDir)).toEqual(before);
}

async function waitUntil(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await Bun.sleep(20);
  }
}

describe("a 200 MB upload", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(() => d.close());

  test("is streamed to disk: the daemon's memory stays flat, and the job reads every byte", async () => {
    const dir = tempDir("pxs-upload-");
    const big = join(dir, "big model.fbx");
    const size = 200 * 1024 * 1024;
    await Bun.write(big, "");
    truncateSync(big, size); // sparse: the client (curl, another process) costs no memory either
    const script = join(dir, "size.ts");
    await Bun.write(script, SIZE_SCRIPT);

    Bun.gc(true);
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage.rss());
    }, 5);
    const curl = Bun.spawn(
      [
        "curl",
        "-sS",
        "-H",
        `x-api-key: ${TOKEN}`,
        "-F",
        `script=@${script}`,
        "-F",
        `file=@${big}`,
        `${d.url}/jobs`,
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    const [out, err, code] = await Promise.all([
      new Response(curl.stdout).text(),
      new Response(curl.stderr).text(),
      curl.exited,
    ]);
    clearInterval(sampler);
    expect({ code, err }).toEqual({ code: 0, err: "" });
    const growthMb = (peak - baseline) / 1024 / 1024;
    // Buffering the body (formData) would cost 200+ MB; streaming costs a few buffers.
    expect(growthMb).toBeLessThan(100);

    const { uuid } = JSON.parse(out) as { uuid: string };
    const details = await d.waitFor(uuid);
    expect(details).toMatchObject({ status: "SUCCESS", result: { size, name: "big model.fbx" } });
  }, 60000);
});

describe("limits", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ MAX_UPLOAD_SIZE: "1M" });
  });
  afterAll(() => d.close());

  test("a body whose files pass MAX_UPLOAD_SIZE is a 413 naming the limit, and nothing stays", async () => {
    const res = await d.submit({
      script: scriptFile(SIZE_SCRIPT),
      file: new File([new Uint8Array(1024 * 1024 + 1)], "big.bin"),
    });
    expect(res.status).toBe(413);
    const body = (await res.json()) as { detail: { details: string } };
    expect(body.detail.details).toContain("1 MiB (1048576 bytes, MAX_UPLOAD_SIZE)");
    expectNothingStored(d.dataDir);
  });

  test("a streamed (chunked) body is counted as it arrives: 413 too", async () => {
    const boundary = "----pxs-chunked";
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`;
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode(head));
        if (sent >= 3 * 1024 * 1024) {
          controller.enqueue(new TextEncoder().encode(`\r\n--${boundary}--\r\n`));
          controller.close();
          return;
        }
        controller.enqueue(new Uint8Array(64 * 1024));
        sent += 64 * 1024;
      },
    });
    const res = await d
      .api("/jobs", {
        method: "POST",
        headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
        body,
      })
      .catch((error: Error) => error);
    // The server answers as soon as the limit is passed; a client still sending may see the reset.
    if (res instanceof Response) {
      expect(res.status).toBe(413);
      expect(await res.text()).toContain("MAX_UPLOAD_SIZE");
    }
    await waitUntil(() => stagedUploads(d.dataDir).length === 0);
    expectNothingStored(d.dataDir);
  });

  test("a Content-Length past the limit is a 413 before any byte is read", async () => {
    const url = new URL(d.url);
    let answer = "";
    const socket = await Bun.connect({
      hostname: url.hostname,
      port: Number(url.port),
      socket: {
        data(_socket, chunk) {
          answer += new TextDecoder().decode(chunk);
        },
      },
    });
    // Headers only: the answer must not wait for a body that is never sent.
    socket.write(
      `POST /jobs HTTP/1.1\r\nHost: ${url.host}\r\nx-api-key: ${TOKEN}\r\n` +
        "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 9437185\r\n\r\n",
    );
    await waitUntil(() => answer.includes("MAX_UPLOAD_SIZE"));
    socket.end();
    expect(answer).toStartWith("HTTP/1.1 413");
    expectNothingStored(d.dataDir, jobDirs(d.dataDir));
  });

  test("an upload cut off mid-body leaves no partial file", async () => {
    const url = new URL(d.url);
    const boundary = "cut";
    const part = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="part.bin"\r\n\r\n`;
    const socket = await Bun.connect({
      hostname: url.hostname,
      port: Number(url.port),
      socket: { data() {} },
    });
    socket.write(
      `POST /jobs HTTP/1.1\r\nHost: ${url.host}\r\nx-api-key: ${TOKEN}\r\n` +
        `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 900000\r\n\r\n${part}`,
    );
    socket.write(new Uint8Array(200 * 1024));
    // The file is being written...
    await waitUntil(() => stagedUploads(d.dataDir).length > 0);
    socket.end();
    // ...and removed with its staging folder once the connection is gone.
    await waitUntil(() => stagedUploads(d.dataDir).length === 0);
    expectNothingStored(d.dataDir);
  });

  test("file names are reduced to a safe base name", async () => {
    const res = await d.submit({
      script: scriptFile(SIZE_SCRIPT),
      file: new File(["abc"], "..\\..\\etc/../../passwd.obj"),
    });
    expect(res.status).toBe(200);
    const { uuid } = (await res.json()) as { uuid: string };
    expect(await d.waitFor(uuid)).toMatchObject({
      result: { size: 3, name: "passwd.obj" },
      input_file: "passwd.obj",
    });
  });

  // A part up to SMALL_PART_BYTES is held and written in one go; a bigger one switches to a stream
  // once it passes that size: both must land byte for byte, the second in its order.
  test.each([
    ["a small part (held, written at its end)", 10 * 1024],
    ["a part that outgrows the held size (then streamed)", SMALL_PART_BYTES + 70_000],
  ])("%s is stored byte for byte", async (_, size) => {
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 7919 + (i >> 10)) & 0xff;
    const res = await d.submit({ script: scriptFile(SIZE_SCRIPT), file: new File([bytes], "part.bin") });
    expect(res.status).toBe(200);
    const { uuid } = (await res.json()) as { uuid: string };
    const stored = await Bun.file(join(d.dataDir, "jobs", uuid, "inputs", "part.bin")).bytes();
    expect(stored.length).toBe(size);
    expect(Buffer.compare(stored, bytes)).toBe(0);
  });

  test("a file part without a file name is a 400", async () => {
    const before = jobDirs(d.dataDir);
    const res = await d.submit({ script: scriptFile(SIZE_SCRIPT), file: new File(["abc"], "...") });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("no usable file name");
    expectNothingStored(d.dataDir, before);
  });
});

describe("free disk", () => {
  test("below MIN_FREE_DISK a submission is a 507 before anything is written", async () => {
    const d = await startTestDaemon({ MIN_FREE_DISK: "1000T" });
    try {
      const res = await d.submit({ script: scriptFile(SIZE_SCRIPT), file: new File(["abc"], "a.obj") });
      expect(res.status).toBe(507);
      const body = (await res.json()) as { detail: { message: string; details: string } };
      expect(body.detail.message).toBe("Insufficient Storage");
      expect(body.detail.details).toContain("MIN_FREE_DISK");
      expectNothingStored(d.dataDir);
    } finally {
      await d.close();
    }
  });
});

describe("a client that half-closes its connection", () => {
  test("every job stored was answered or named in the log: none runs behind a client that saw no answer", async () => {
    const dataDir = tempDir();
    const d = await startServeProcess(FROM_SOURCE, {
      dataDir,
      cwd: join(import.meta.dir, ".."),
      env: { LOG_FORMAT: "json" },
    });
    try {
      const { hostname, port } = new URL(d.url);
      const boundary = "----half-close";
      const body = `--${boundary}\r\nContent-Disposition: form-data; name="process"\r\n\r\napi_test\r\n--${boundary}--\r\n`;
      const request =
        `POST /jobs HTTP/1.1\r\nHost: ${hostname}:${port}\r\nx-api-key: ${TOKEN}\r\nConnection: close\r\n` +
        `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      // Sends the request, then shuts down its own sending side (some clients do); resolves to
      // the status line it got back, "" when the connection closed without an answer.
      const halfClosed = () =>
        new Promise<string>((resolve) => {
          let answer = "";
          void Bun.connect({
            hostname,
            port: Number(port),
            socket: {
              open(socket) {
                socket.write(request);
                socket.shutdown();
              },
              data(_socket, chunk) {
                answer += chunk.toString();
              },
              close: () => resolve(answer.split("\r\n")[0] ?? ""),
              error: () => resolve(answer.split("\r\n")[0] ?? ""),
            },
          });
        });
      const TOTAL = 200;
      let left = TOTAL;
      const statuses: string[] = [];
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (left-- > 0) statuses.push(await halfClosed());
        }),
      );
      const answered = statuses.filter((s) => s.startsWith("HTTP/1.1 200")).length;
      await Bun.sleep(300);
      const named = d
        .log()
        .split("\n")
        .filter((line) => line.includes("the client went away before the answer")).length;
      const { jobs } = (await (await d.api("/jobs?limit=1000")).json()) as { jobs: unknown[] };
      console.log(
        `half-closed: ${TOTAL} sent, ${answered} answered, ${jobs.length} stored, ${named} named in the log`,
      );
      expect(statuses.length).toBe(TOTAL);
      expect(jobs.length).toBe(answered + named);
      // What was refused left no folder behind.
      expect(jobDirs(dataDir).length).toBe(jobs.length);
      expect(stagedUploads(dataDir)).toEqual([]);
    } finally {
      d.proc.kill("SIGKILL");
      await d.proc.exited;
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60000);
});
