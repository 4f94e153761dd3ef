// Status reads: GET /jobs/{uuid} on the daemon against a bare Hono route returning a small JSON
// object (the floor for "an HTTP request answered by Hono on Bun"), side by side in one run, with
// 1,000 and then 100,000 jobs stored. Each server is its own process; the client keeps a fixed
// number of requests in flight for a fixed time.
//
//   bun bench/status-reads.ts [--seconds 3] [--concurrency 8]
//
// Reports; asserts nothing. docs/performance.md records runs.
import { createHash, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openDatabase } from "../src/store/db.ts";
import { freePort } from "./lib.ts";

const { values: args } = parseArgs({
  options: { seconds: { type: "string", default: "3" }, concurrency: { type: "string", default: "8" } },
});
const SECONDS = Number(args.seconds);
const CONCURRENCY = Number(args.concurrency);
const ROOT = join(import.meta.dir, "..");
const TOKEN = "bench-token";
const work = mkdtempSync(join(tmpdir(), "pxs-reads-bench-"));

async function ready(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (
      await fetch(url).then(
        () => true,
        () => false,
      )
    )
      return;
    await Bun.sleep(50);
  }
  throw new Error(`${url} did not answer`);
}

/** Fills a data folder's store with `count` finished jobs, in one transaction; returns one uuid. */
function prefill(dataDir: string, count: number): string {
  const db = openDatabase(join(dataDir, "jobs.sqlite"));
  const insert = db.$client.prepare(
    `INSERT INTO jobs (uuid, process, entrypoint, queue, priority, time_limit_s, params_json, config_json, status,
       progress, steps_json, result_json, requested_at, started_at, stopped_at, origin_node)
     VALUES (?, 'custom', 'main', 'cpu', 0, 60, '{}', '{}', 'SUCCESS', 100, '[]', 'null', ?, ?, ?, 'bench')`,
  );
  let probe = "";
  db.$client.transaction(() => {
    const now = Date.now();
    for (let i = 0; i < count; i++) {
      const uuid = randomUUID();
      if (i === Math.floor(count / 2)) probe = uuid;
      insert.run(uuid, now - i, now - i, now - i);
    }
  })();
  db.$client.close();
  return probe;
}

async function load(url: string, headers: Record<string, string>): Promise<number> {
  let done = 0;
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        const res = await fetch(url, { headers });
        if (!res.ok) throw new Error(`${url}: ${res.status}`);
        await res.arrayBuffer();
        done++;
      }
    }),
  );
  return done / SECONDS;
}

/** The daemon from src/ on `port`, once it answers. */
async function serveDaemon(dataDir: string, port: number) {
  const command = [
    process.execPath,
    join(ROOT, "src/cli/main.ts"),
    "serve",
    "--port",
    String(port),
    "--data-dir",
    dataDir,
  ];
  const proc = Bun.spawn(command, {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      API_HOST: "127.0.0.1",
      GOD_PASSWORD_SHA256: createHash("sha256").update(TOKEN).digest("hex"),
      LOG_LEVEL: "error",
      SLOTS: "cpu:1",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  await ready(`http://127.0.0.1:${port}/health`);
  return proc;
}

// The floor: Hono on Bun, one route, a small JSON body.
const barePort = freePort();
const bareFile = join(work, "bare.ts");
writeFileSync(
  bareFile,
  `import { Hono } from "${join(ROOT, "node_modules/hono/dist/index.js")}";
const app = new Hono();
app.get("/jobs/:uuid", (c) => c.json({ uuid: c.req.param("uuid"), name: null, status: "SUCCESS", progress: 100, error: null }));
Bun.serve({ hostname: "127.0.0.1", port: ${barePort}, fetch: app.fetch });
`,
);
const bare = Bun.spawn([process.execPath, bareFile], { stdio: ["ignore", "ignore", "inherit"] });
await ready(`http://127.0.0.1:${barePort}/jobs/x`);

try {
  for (const count of [1_000, 100_000]) {
    const dataDir = join(work, `data-${count}`);
    const port = freePort();
    // A first start creates the store (migrations); the rows go in while it is stopped.
    const first = await serveDaemon(dataDir, port);
    first.kill();
    await first.exited;
    const probe = prefill(dataDir, count);
    const daemon = await serveDaemon(dataDir, port);
    // Warm both, then alternate: bare, daemon, bare, daemon.
    await load(`http://127.0.0.1:${barePort}/jobs/${probe}`, {});
    await load(`http://127.0.0.1:${port}/jobs/${probe}`, { "x-api-key": TOKEN });
    const bareRps = [await load(`http://127.0.0.1:${barePort}/jobs/${probe}`, {})];
    const daemonRps = [await load(`http://127.0.0.1:${port}/jobs/${probe}`, { "x-api-key": TOKEN })];
    bareRps.push(await load(`http://127.0.0.1:${barePort}/jobs/${probe}`, {}));
    daemonRps.push(await load(`http://127.0.0.1:${port}/jobs/${probe}`, { "x-api-key": TOKEN }));
    const b = (bareRps[0]! + bareRps[1]!) / 2;
    const d = (daemonRps[0]! + daemonRps[1]!) / 2;
    console.log(
      `${count.toLocaleString("en")} jobs stored: GET /jobs/{uuid} ${d.toFixed(0)} req/s, bare Hono ${b.toFixed(0)} req/s: ${(d / b).toFixed(2)}x (target >= 0.5x, flat from 1k to 100k)`,
    );
    daemon.kill();
    await daemon.exited;
  }
} finally {
  bare.kill();
  await bare.exited;
  rmSync(work, { recursive: true, force: true });
}
