// A power loss right after a 200 to a submission: the job and its script must be on disk. Right
// after a job's SUCCESS: the outputs it points to must be on disk too. The daemon's data folder is an ext4 file system on a loop-mounted image (in a private mount
// namespace); copying the image file takes exactly what reached the "disk" (what the file system
// wrote to its device), not what still waits in the page cache: the copy is the disk as a power
// loss would leave it. Needs root, unshare(1), losetup-backed mounts and mkfs.ext4: skipped with a
// printed reason otherwise.

import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { FROM_SOURCE } from "./helpers/cli.ts";
import { scriptFile, tempDir } from "./helpers/daemon.ts";
import { withPrivateMount } from "./helpers/private-mount.ts";
import { type ServeProcess, startServeProcess } from "./helpers/serve-process.ts";

const ROOT = join(import.meta.dir, "..");
const canLoopMount =
  process.getuid?.() === 0 &&
  Bun.which("unshare") !== null &&
  Bun.which("mkfs.ext4") !== null &&
  existsSync("/dev/loop-control");
if (!canLoopMount) {
  console.log("durable-outputs tests skipped: they need root, unshare(1), mkfs.ext4 and loop devices");
}

const OUTPUT_BYTES = 256 * 1024;
const WRITE_AND_RETURN = `import { writeFileSync } from "node:fs";
export async function main(ctx) {
  writeFileSync(ctx.outputDir("result.bin"), new Uint8Array(${OUTPUT_BYTES}).fill(42));
  return "written";
}`;
const SLEEP = "export async function main() { await Bun.sleep(120_000); }";

const processes: ServeProcess[] = [];
const folders: string[] = [];
afterEach(() => {
  for (const p of processes.splice(0)) p.proc.kill("SIGKILL");
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function sh(script: string): void {
  const run = Bun.spawnSync(["bash", "-c", script], { stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`${script}: ${run.stderr.toString()}`);
}

/** A daemon whose data folder is an ext4 image mounted with `mountOptions`, and that image. */
async function daemonOnImage(mountOptions = "loop") {
  const work = tempDir();
  folders.push(work);
  const image = join(work, "disk.img");
  const dataDir = join(work, "data");
  sh(`truncate -s 96M "${image}" && mkfs.ext4 -q "${image}"`);
  const daemon = await startServeProcess(
    withPrivateMount(
      `mkdir -p "${dataDir}" && mount -o ${mountOptions} "${image}" "${dataDir}"`,
      FROM_SOURCE,
    ),
    { dataDir, cwd: ROOT, env: { SLOTS: "cpu:1", MIN_FREE_DISK: "4MiB" } },
  );
  processes.push(daemon);
  return { work, image, daemon };
}

/**
 * The power loss: the disk as it is now, mounted elsewhere (the journal replays there). Copies
 * the database files and `paths` (relative to the data folder; a missing one is skipped) into a
 * folder of their own, and returns it.
 */
function diskAfterPowerLoss(work: string, image: string, paths: string[]): string {
  const copy = join(work, "after-power-loss.img");
  const seen = join(work, "seen");
  const found = join(work, "found");
  sh(`cp --sparse=always "${image}" "${copy}" && mkdir -p "${seen}" "${found}"`);
  const copies = paths.map((path) => `{ cp "${seen}/${path}" "${found}/" 2>/dev/null || true; }`);
  const read = Bun.spawnSync(
    withPrivateMount(`mount -o loop "${copy}" "${seen}"`, [
      "bash",
      "-c",
      [`cp "${seen}"/jobs.sqlite* "${found}"/`, ...copies].join(" && "),
    ]),
    { stderr: "pipe" },
  );
  expect(read.stderr.toString()).toBe("");
  expect(read.exitCode).toBe(0);
  return found;
}

function storedStatus(found: string, uuid: string): string | null {
  const db = new Database(join(found, "jobs.sqlite"));
  const row = db.query("SELECT status FROM jobs WHERE uuid = ?").get(uuid) as { status: string } | null;
  db.close();
  return row?.status ?? null;
}

const uuidOf = async (answer: Response) => ((await answer.json()) as { uuid: string }).uuid;

describe.skipIf(!canLoopMount)("a power loss", () => {
  test("a job found SUCCESS on the disk as the power loss left it has its outputs whole", async () => {
    const { work, image, daemon } = await daemonOnImage();
    const job = await uuidOf(await daemon.submit({ script: scriptFile(WRITE_AND_RETURN) }));
    expect((await daemon.waitFor(job, undefined, 30000)).status).toBe("SUCCESS");
    // The next submission's commit is fsynced (a 200 means on disk): it takes the whole WAL, the
    // first job's SUCCESS row with it, to the disk. Its job then sleeps and writes nothing more.
    const next = await uuidOf(await daemon.submit({ script: scriptFile(SLEEP) }));
    await daemon.waitFor(next, ["STARTED"], 30000);
    await Bun.sleep(500);

    const found = diskAfterPowerLoss(work, image, [`jobs/${job}/outputs/result.bin`]);
    expect(storedStatus(found, job)).toBe("SUCCESS");
    const output = join(found, "result.bin");
    expect(existsSync(output) ? statSync(output).size : "missing").toBe(OUTPUT_BYTES);
    expect(readFileSync(output).every((byte) => byte === 42)).toBe(true);
  }, 60000);

  test("a submission answered 200 is on the disk at once, its script with it", async () => {
    // The file system's own flush every 5 s would hide a missing fsync: once a minute here.
    const { work, image, daemon } = await daemonOnImage("loop,commit=60");
    const answer = await daemon.submit({ script: scriptFile(SLEEP) });
    expect(answer.status).toBe(200);
    const job = await uuidOf(answer);

    const found = diskAfterPowerLoss(work, image, [`jobs/${job}/script/script.ts`]);
    expect(["PENDING", "STARTED"]).toContain(storedStatus(found, job) ?? "missing");
    const script = join(found, "script.ts");
    expect(existsSync(script) ? readFileSync(script, "utf8") : "missing").toBe(SLEEP);
  }, 60000);
});
