// Builds dist/pixyz-scheduler: one executable with the runtime, the API, the migrations, the
// built-in processes, the job harness and the docs assets inside. Run `bun run build`.
// Another output path: `bun scripts/build.ts <outfile>` or OUTFILE=<outfile> (test/binary.test.ts
// builds into a temporary folder that way). Run `bun run gen` first (`bun run build` does).
//
// The build is profile-guided (`bytecodeOrder`): a first executable serves a short session (start,
// one no-op job, a few API reads, stop) with BUN_BYTECODE_ORDER_OUT set, which records the
// functions it ran; the executable is then built again with that order, so the bytecode a daemon
// runs sits together at the front and it maps less of itself (2.5 MiB less RSS at start, issue
// #13: 61.3 -> 58.7 MiB). Only the layout changes, never the behaviour. BYTECODE_ORDER=0 skips the
// session; a session that fails leaves the first executable, with a warning.
// The executable also starts with the JIT held back (STARTUP_JIT_POLICY below).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/**
 * The start runs in JavaScriptCore's interpreter (tier-up thresholds x100): its code runs once, and
 * compiling it only left JIT code and compiler pages in the daemon's memory (58.6 -> 53.2 MiB RSS
 * at start). `serve` restores the normal policy once the daemon listens (cli/serve.ts). A job
 * child runs the same executable as Bun (BUN_BE_BUN=1), which does not apply this.
 */
const STARTUP_JIT_POLICY = Number(process.env.STARTUP_JIT_POLICY ?? 100);

const root = join(import.meta.dir, "..");
const requested = process.argv[2] ?? process.env.OUTFILE;
const outfile = requested ? resolve(requested) : join(root, "dist/pixyz-scheduler");

async function build(bytecodeOrder?: string): Promise<void> {
  const result = await Bun.build({
    entrypoints: [join(root, "src/cli/main.ts")],
    compile: { outfile, jitPolicy: STARTUP_JIT_POLICY, ...(bytecodeOrder ? { bytecodeOrder } : {}) },
    minify: true,
    sourcemap: "linked",
    bytecode: true,
    format: "esm",
  });
  if (!result.success) {
    for (const log of result.logs) console.error(log);
    process.exit(1);
  }
}

/** Reads the daemon's JSON log to its end; resolves with its URL once it listens. */
function listeningUrl(proc: ReturnType<typeof Bun.spawn>): Promise<string> {
  const { promise, resolve, reject } = Promise.withResolvers<string>();
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      const match = /"msg":"pixyz-scheduler listening".*?"url":"([^"]+)"/.exec(buffer);
      if (match) resolve(match[1]!);
    }
    reject(new Error(`the daemon exited (${await proc.exited}) before it listened:\n${buffer}`));
  })();
  return promise;
}

/** Runs the session that records the bytecode order; the daemon's profile. */
async function recordOrder(work: string): Promise<string> {
  const dataDir = join(work, "data");
  mkdirSync(dataDir);
  const token = "bytecode-order";
  const proc = Bun.spawn([outfile, "serve"], {
    cwd: work,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: work,
      // %p: each process writes its own (the daemon's children run the same executable).
      BUN_BYTECODE_ORDER_OUT: join(work, "order-%p"),
      API_HOST: "127.0.0.1",
      API_PORT: "0",
      DATA_DIR: dataDir,
      GOD_PASSWORD_SHA256: createHash("sha256").update(token).digest("hex"),
      SLOTS: "cpu:1",
      LOG_FORMAT: "json",
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  try {
    let timer: Timer | undefined;
    const url = await Promise.race([
      listeningUrl(proc),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("the daemon did not listen within 30 s")), 30_000);
      }),
    ]).finally(() => clearTimeout(timer));
    // No kept-alive connection: the daemon's stop waits for open ones.
    const headers = { "x-api-key": token };
    const get = async (path: string) => {
      const res = await fetch(`${url}${path}`, { headers, keepalive: false });
      if (!res.ok) throw new Error(`GET ${path} answered ${res.status}`);
      return res.json() as Promise<{ status?: string }>;
    };
    await get("/health");
    const form = new FormData();
    form.append("script", new File(["export async function main() {\n  return null;\n}\n"], "noop.ts"));
    const submitted = await fetch(`${url}/jobs`, { method: "POST", body: form, headers, keepalive: false });
    if (!submitted.ok) throw new Error(`POST /jobs answered ${submitted.status}`);
    const { uuid } = (await submitted.json()) as { uuid: string };
    const deadline = Date.now() + 30_000;
    while ((await get(`/jobs/${uuid}`)).status !== "SUCCESS") {
      if (Date.now() > deadline) throw new Error("the no-op job did not succeed within 30 s");
      await Bun.sleep(20);
    }
    await get(`/jobs/${uuid}/details`);
    await get("/jobs");
    await get("/queues");
    await get("/slots");
    const metrics = await fetch(`${url}/metrics`, { keepalive: false });
    if (!metrics.ok) throw new Error(`GET /metrics answered ${metrics.status}`);
    await metrics.text();
  } catch (error) {
    proc.kill("SIGKILL");
    throw error;
  }
  proc.kill("SIGTERM"); // the profile is written at exit
  if ((await proc.exited) !== 0) throw new Error(`the daemon exited with ${proc.exitCode}`);
  // The daemon's own profile (its child that copies the 3D libraries at start writes one too).
  const profile = join(work, `order-${proc.pid}`);
  if (!existsSync(profile)) throw new Error("the daemon wrote no profile");
  return profile;
}

await build();
if (process.env.BYTECODE_ORDER !== "0") {
  const work = mkdtempSync(join(tmpdir(), "pxs-bytecode-order-"));
  try {
    const order = await recordOrder(work);
    await build(order);
  } catch (error) {
    console.warn(
      `build: no bytecode order (${(error as Error).message}); the executable is built without one`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
console.log(`built ${outfile}`);
