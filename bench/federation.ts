// What a hand-off to a peer costs, measured side by side in one run on loopback:
//  - a no-op gpu job submitted to a CPU box (delegated to a GPU peer) against the same job
//    submitted to the GPU peer itself (run locally there): the difference is the hand-off's overhead;
//  - a burst of no-op gpu jobs submitted at once to the CPU box (every one delegated: it has no
//    stand-in for gpu) against the same burst submitted to the GPU box: how fast a peer's free
//    slot is handed the next job;
//  - a job with a large input that writes an output of the same size, delegated against local, as
//    throughput of the bytes moved (input pulled, output sent home), against a plain loopback copy
//    of the same bytes (one HTTP GET of a file from a Bun server).
//
//   bun bench/federation.ts [--jobs 30] [--burst 30] [--mb 200] [--json]
//
// BENCH_LOG_LEVEL=info lets the daemons log each hand-off step on stderr (with its time).
//
// Two daemons from src/ (or dist/pixyz-scheduler when built), each its own process. Reports; asserts
// nothing. docs/federation.md records runs.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "./lib.ts";

const { values: args } = parseArgs({
  options: {
    jobs: { type: "string", default: "30" },
    burst: { type: "string", default: "30" },
    mb: { type: "string", default: "200" },
    json: { type: "boolean", default: false },
  },
});
const JOBS = Number(args.jobs);
const BURST = Number(args.burst);
const MB = Number(args.mb);
const ROOT = join(import.meta.dir, "..");
const BINARY = join(ROOT, "dist/pixyz-scheduler");
const command = (await Bun.file(BINARY).exists())
  ? [BINARY]
  : [process.execPath, join(ROOT, "src/cli/main.ts")];
const TOKEN = "bench-token";
const SECRET = "bench-peer-secret-bench-peer-secret";
const work = mkdtempSync(join(tmpdir(), "pxs-fed-bench-"));

async function daemon(name: string, env: Record<string, string>) {
  const port = freePort();
  const dataDir = join(work, name);
  const proc = Bun.spawn([...command, "serve", "--port", String(port), "--data-dir", dataDir], {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      API_HOST: "127.0.0.1",
      GOD_PASSWORD_SHA256: createHash("sha256").update(TOKEN).digest("hex"),
      PEER_SECRET: SECRET,
      NODE_NAME: name,
      ADVERT_INTERVAL: "1",
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "warn",
      ...env,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (
      await fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await Bun.sleep(50);
  }
  return { url, proc };
}

const api = (url: string, path: string, init: RequestInit = {}) =>
  fetch(`${url}${path}`, { ...init, headers: { "x-api-key": TOKEN, ...(init.headers ?? {}) } });

async function submit(url: string, script: string, input?: Blob): Promise<string> {
  const form = new FormData();
  form.append("script", new File([script], "job.ts"));
  if (input) form.append("file", new File([input], "input.bin"));
  const res = await api(url, "/jobs", { method: "POST", body: form });
  if (!res.ok) throw new Error(`submit: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { uuid: string }).uuid;
}

async function until(
  url: string,
  uuid: string,
  pollMs = 2,
): Promise<{ status: string; attempts: { slot: string }[] }> {
  for (;;) {
    const body = (await (await api(url, `/jobs/${uuid}/details`)).json()) as {
      status: string;
      attempts: { slot: string }[];
    };
    if (["SUCCESS", "FAILURE", "REVOKED"].includes(body.status)) return body;
    await Bun.sleep(pollMs);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const NOOP = `export const schedule = { queue: "gpu" };\nexport async function main() { return null; }\n`;
const COPY = `export const schedule = { queue: "gpu" };
export async function main(ctx) {
  await Bun.write(ctx.outputDir("copy.bin"), Bun.file(ctx.inputFile()));
  return null;
}
`;

const b = await daemon("b", { SLOTS: "gpu:1" });
// GPU_FALLBACK=wait: the CPU box's cpu slot never stands in for gpu, so every gpu job goes to B.
const a = await daemon("a", { SLOTS: "cpu:1", PEERS: b.url, GPU_FALLBACK: "wait" });
try {
  for (let i = 0; i < 100; i++) {
    const peers = (await (await api(a.url, "/peers")).json()) as { peers: { state: string }[] };
    if (peers.peers.some((p) => p.state === "alive")) break;
    await Bun.sleep(100);
  }
  const timed = async (url: string, script: string, input?: Blob) => {
    const started = performance.now();
    const uuid = await submit(url, script, input);
    const submittedAt = performance.now();
    const done = await until(url, uuid);
    if (done.status !== "SUCCESS") throw new Error(`job ${uuid} ended ${done.status}`);
    return {
      total: performance.now() - started,
      afterSubmit: performance.now() - submittedAt,
      slot: done.attempts.at(-1)!.slot,
    };
  };
  // Warm-up, then alternate local and delegated so both see the same machine load.
  await timed(b.url, NOOP);
  await Bun.sleep(400);
  await timed(a.url, NOOP);
  await Bun.sleep(400);
  const local: number[] = [];
  const delegated: number[] = [];
  // Between jobs (untimed) the adverts settle: the CPU box then knows the GPU box's slot is free
  // again (a peer it believes busy gets no offer, and the job would run on its cpu slot instead).
  const settle = () => Bun.sleep(400);
  for (let i = 0; i < JOBS; i++) {
    local.push((await timed(b.url, NOOP)).total);
    await settle();
    const remote = await timed(a.url, NOOP);
    await settle();
    if (remote.slot !== "peer:b") throw new Error(`a no-op job ran on ${remote.slot}, not on the peer`);
    delegated.push(remote.total);
  }

  // A burst: all submitted at once, timed from the first submission to the last SUCCESS seen.
  const burst = async (url: string) => {
    await settle();
    const started = performance.now();
    const uuids = await Promise.all(Array.from({ length: BURST }, () => submit(url, NOOP)));
    const ends = await Promise.all(uuids.map((uuid) => until(url, uuid, 20)));
    const failed = ends.find((end) => end.status !== "SUCCESS");
    if (failed) throw new Error(`a job of the burst ended ${failed.status}`);
    return BURST / ((performance.now() - started) / 1000);
  };
  const burstLocal = await burst(b.url);
  const burstDelegated = await burst(a.url);

  const bytes = MB * 1024 * 1024;
  const blob = new Blob([new Uint8Array(bytes).fill(1)]);
  const bigLocal = await timed(b.url, COPY, blob);
  await settle();
  const bigRemote = await timed(a.url, COPY, blob);
  const handoffMs = bigRemote.afterSubmit - bigLocal.afterSubmit;
  const handoffMBps = (2 * MB) / (handoffMs / 1000); // the input pulled, the output sent home

  // The floor: one loopback HTTP copy of the same bytes.
  const file = join(work, "plain.bin");
  writeFileSync(file, new Uint8Array(bytes).fill(1));
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(Bun.file(file)) });
  const copyStarted = performance.now();
  const res = await fetch(`http://127.0.0.1:${server.port}/`);
  await Bun.write(join(work, "plain-copy.bin"), res);
  const copyMs = performance.now() - copyStarted;
  server.stop(true);
  const copyMBps = MB / (copyMs / 1000);

  const result = {
    noop: {
      localMedianMs: median(local),
      delegatedMedianMs: median(delegated),
      overheadMs: median(delegated) - median(local),
    },
    burst: {
      jobs: BURST,
      localJobsPerS: burstLocal,
      delegatedJobsPerS: burstDelegated,
      ratio: burstDelegated / burstLocal,
    },
    large: {
      mb: MB,
      localMs: bigLocal.afterSubmit,
      delegatedMs: bigRemote.afterSubmit,
      handoffMBps,
      copyMBps,
      ratio: handoffMBps / copyMBps,
    },
  };
  console.log(
    `no-op gpu job, ${JOBS} each: local on the GPU box ${result.noop.localMedianMs.toFixed(1)} ms, delegated from the CPU box ${result.noop.delegatedMedianMs.toFixed(1)} ms: overhead ${result.noop.overheadMs.toFixed(1)} ms (target < 30 ms)`,
  );
  console.log(
    `a burst of ${BURST} no-op gpu jobs on one gpu slot: submitted to the GPU box ${burstLocal.toFixed(1)} jobs/s, to the CPU box (all delegated) ${burstDelegated.toFixed(1)} jobs/s (${result.burst.ratio.toFixed(2)}x)`,
  );
  console.log(
    `${MB} MB in and ${MB} MB out: local ${bigLocal.afterSubmit.toFixed(0)} ms, delegated ${bigRemote.afterSubmit.toFixed(0)} ms: hand-off ${handoffMBps.toFixed(0)} MB/s against a plain loopback copy of ${copyMBps.toFixed(0)} MB/s (${result.large.ratio.toFixed(2)}x, target >= 0.5x)`,
  );
  if (args.json) console.log(JSON.stringify(result));
} finally {
  a.proc.kill();
  b.proc.kill();
  await Promise.all([a.proc.exited, b.proc.exited]);
  rmSync(work, { recursive: true, force: true });
}
