// Fault suite (npm run test:faults): 50 slowloris connections (a request's headers, a byte a
// second, never finished) and 20 trickling uploads (a multipart POST /jobs with a valid token and
// a Content-Length, its body a byte a second) held open while ordinary requests are timed for
// about 10 s. The ordinary requests must stay fast (p95 under 50 ms), the uploads must be ended by
// the daemon's UPLOAD_IDLE_TIMEOUT (3 s here), and nothing may be left in staging.

import { afterEach, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { FROM_SOURCE } from "../helpers/cli.ts";
import { stagedUploads, TOKEN, tempDir } from "../helpers/daemon.ts";
import { eventually } from "../helpers/procs.ts";
import { type RawConnection, rawConnect } from "../helpers/raw-http.ts";
import { type ServeProcess, startServeProcess } from "../helpers/serve-process.ts";

const ROOT = join(import.meta.dir, "../..");
const SLOWLORIS = 50;
const UPLOADS = 20;
const MEASURE_MS = 10000;
const IDLE_TIMEOUT_S = 3;

const processes: ServeProcess[] = [];
const sockets: RawConnection[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
  for (const p of processes.splice(0)) p.proc.kill("SIGKILL");
});

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** Sends `bytes` one a second until they run out, the connection closes, or `stop()` is true. */
async function trickle(conn: RawConnection, bytes: Uint8Array, stop: () => boolean): Promise<number> {
  let sent = 0;
  while (sent < bytes.length && conn.isOpen() && !stop()) {
    await Promise.race([Bun.sleep(1000), conn.closed]);
    if (!conn.isOpen() || stop()) break;
    await conn.write(bytes.subarray(sent, sent + 1));
    sent++;
  }
  return sent;
}

test("50 slowloris connections and 20 trickling uploads: other requests stay fast, the uploads are ended by UPLOAD_IDLE_TIMEOUT", async () => {
  const dataDir = tempDir("pxs-fault-slow-");
  const daemon = await startServeProcess(FROM_SOURCE, {
    dataDir,
    cwd: ROOT,
    env: { SLOTS: "cpu:2", UPLOAD_IDLE_TIMEOUT: String(IDLE_TIMEOUT_S) },
  });
  processes.push(daemon);
  const port = Number(new URL(daemon.url).port);
  const job = ((await (await daemon.submit({ process: "api_test" })).json()) as { uuid: string }).uuid;
  expect((await daemon.waitFor(job)).status).toBe("SUCCESS");

  let stopping = false;
  const started = Date.now();

  // Slowloris: a request line and headers that never end, a byte a second.
  const loris = await Promise.all(
    Array.from({ length: SLOWLORIS }, async (_, i) => {
      const conn = await rawConnect(port);
      sockets.push(conn);
      await conn.write(`GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-${i}: `);
      const sending = trickle(conn, new TextEncoder().encode("a".repeat(3600)), () => stopping);
      return { conn, sending };
    }),
  );

  // Trickling uploads: complete, authenticated headers; the body a byte a second.
  const boundary = "pxsSlowBoundary";
  const body = new TextEncoder().encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="script"; filename="slow.ts"\r\n\r\n` +
      `export async function main() { return 1; }\r\n--${boundary}--\r\n`,
  );
  const uploads = await Promise.all(
    Array.from({ length: UPLOADS }, async () => {
      const conn = await rawConnect(port);
      sockets.push(conn);
      const opened = Date.now();
      await conn.write(
        `POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: ${TOKEN}\r\n` +
          `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      const sending = trickle(conn, body, () => stopping);
      let answeredAt: number | null = null;
      conn.head.then((ok) => {
        if (ok) answeredAt = Date.now();
      });
      return { conn, opened, sending, answeredAt: () => answeredAt };
    }),
  );
  // The handler of each upload has started once its staging folder exists.
  const stagedDuring = await eventually(() => stagedUploads(dataDir).length === UPLOADS, 2000);

  // Ordinary requests, one after the other, for MEASURE_MS.
  const latencies: number[] = [];
  const failures: string[] = [];
  const measureEnd = Date.now() + MEASURE_MS;
  for (let i = 0; Date.now() < measureEnd; i++) {
    const path = i % 2 === 0 ? `/jobs/${job}` : "/health";
    const t0 = performance.now();
    const res = await daemon.api(path);
    await res.arrayBuffer();
    latencies.push(performance.now() - t0);
    if (res.status !== 200) failures.push(`${path} -> ${res.status}`);
    await Bun.sleep(10);
  }

  // How the slow connections ended.
  const lorisOpen = loris.filter((l) => l.conn.isOpen()).length;
  const lorisAnswered = loris.filter((l) => l.conn.status() !== null).length;
  const uploadEnds = uploads.map((u) => ({
    status: u.conn.status(),
    afterS: u.answeredAt() === null ? null : (u.answeredAt()! - u.opened) / 1000,
    closedByServer: !u.conn.isOpen(),
    text: new TextDecoder().decode(u.conn.received()),
  }));
  stopping = true;
  for (const s of sockets) s.close();
  const lorisBytes = await Promise.all(loris.map((l) => l.sending));
  await Promise.all(uploads.map((u) => u.sending));
  const stagingEmpty = await eventually(() => stagedUploads(dataDir).length === 0, 5000);
  const health = await daemon.api("/health");

  const sorted = [...latencies].sort((a, b) => a - b);
  const p50 = percentile(sorted, 50);
  const p95 = percentile(sorted, 95);
  const max = sorted[sorted.length - 1]!;
  const ended408 = uploadEnds.filter((u) => u.status === 408);
  const times = ended408.map((u) => u.afterS!).sort((a, b) => a - b);
  console.log(
    `slow-clients: ${SLOWLORIS} slowloris + ${UPLOADS} trickling uploads (1 byte/s), ${latencies.length} requests over ` +
      `${(MEASURE_MS / 1000).toFixed(0)} s: p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, max ${max.toFixed(1)} ms; ` +
      `uploads: ${ended408.length}/${UPLOADS} ended by the daemon with 408 after ${times[0]?.toFixed(1)}-${times[times.length - 1]?.toFixed(1)} s ` +
      `(UPLOAD_IDLE_TIMEOUT=${IDLE_TIMEOUT_S}), ${uploadEnds.filter((u) => u.closedByServer).length} connections closed by the daemon; ` +
      `slowloris: ${lorisOpen}/${SLOWLORIS} still open after ${((Date.now() - started) / 1000).toFixed(0)} s ` +
      `(${Math.max(...lorisBytes)} header bytes sent, ${lorisAnswered} answered), closed by the test; staging empty: ${stagingEmpty}`,
  );

  expect(failures).toEqual([]);
  expect(stagedDuring).toBe(true);
  expect(p95).toBeLessThan(50);
  expect(ended408.length).toBe(UPLOADS);
  for (const u of ended408) {
    expect(u.afterS!).toBeGreaterThanOrEqual(IDLE_TIMEOUT_S - 0.5);
    expect(u.afterS!).toBeLessThan(IDLE_TIMEOUT_S + 3);
    expect(u.text).toContain("UPLOAD_IDLE_TIMEOUT");
  }
  expect(stagingEmpty).toBe(true);
  expect(health.status).toBe(200);
  rmSync(dataDir, { recursive: true, force: true });
}, 120000);
