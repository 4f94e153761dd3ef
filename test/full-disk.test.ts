// A full data disk: the daemon runs on a small tmpfs mounted in a private mount namespace (so
// nothing outside the test sees it), a job fills it, and the daemon must store that job's outcome,
// refuse uploads with 507, say so in /health and /metrics, and run the next job once space returns.
// Needs root (mount) and unshare(1): skipped with a printed reason otherwise.

import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { FROM_SOURCE } from "./helpers/cli.ts";
import { scriptFile, tempDir } from "./helpers/daemon.ts";
import { withPrivateMount } from "./helpers/private-mount.ts";
import { eventually } from "./helpers/procs.ts";
import { type ServeProcess, startServeProcess } from "./helpers/serve-process.ts";

const ROOT = join(import.meta.dir, "..");
const canMount = process.getuid?.() === 0 && Bun.which("unshare") !== null;
if (!canMount) console.log("full-disk tests skipped: they need root and unshare(1) to mount a private tmpfs");

const processes: ServeProcess[] = [];
afterEach(() => {
  for (const p of processes.splice(0)) p.proc.kill("SIGKILL");
});

/** Writes 1 MiB chunks into outputs/fill.bin until the disk refuses, then fails with that error. */
const FILL_THE_DISK = `import { openSync, writeSync } from "node:fs";
export async function main(ctx) {
  const fd = openSync(ctx.outputDir("fill.bin"), "w");
  const chunk = new Uint8Array(1024 * 1024).fill(7);
  for (;;) writeSync(fd, chunk);
}`;

describe.skipIf(!canMount)("a full data disk", () => {
  test("the job that filled it ends FAILURE with the reason; uploads get 507; /health and /metrics say so; the next job runs once space returns", async () => {
    const dataDir = tempDir();
    // The tmpfs hides the data folder's own content from the daemon only; the test reaches the
    // daemon's view through /proc/<pid>/root.
    const inNamespace = withPrivateMount(`mount -t tmpfs -o size=48m tmpfs "${dataDir}"`, FROM_SOURCE);
    const daemon = await startServeProcess(inNamespace, {
      dataDir,
      cwd: ROOT,
      env: { SLOTS: "cpu:1", MIN_FREE_DISK: "4MiB", WARM_CHILDREN: "false" },
    });
    processes.push(daemon);
    const seen = (path: string) => join(`/proc/${daemon.proc.pid}/root`, dataDir, path);
    expect(existsSync(seen("disk-reserve"))).toBe(true);

    const filler = (
      (await (await daemon.submit({ script: scriptFile(FILL_THE_DISK) })).json()) as { uuid: string }
    ).uuid;
    const details = await daemon.waitFor(filler, undefined, 30000);
    expect(details.status).toBe("FAILURE");
    expect(String(details.error)).toMatch(/ENOSPC|no space left/i);

    const health = (await (await daemon.api("/health", { auth: false })).json()) as {
      status: string;
      disk: { status: string; freeBytes: number };
    };
    expect(health.status).toBe("degraded");
    expect(["low", "full"]).toContain(health.disk.status);
    const metrics = await (await daemon.api("/metrics", { auth: false })).text();
    expect(metrics).toMatch(/^pixyz_disk_full 1$/m);

    const refused = await daemon.submit({ script: scriptFile("export async function main() { return 1; }") });
    expect(refused.status).toBe(507);
    expect(((await refused.json()) as { detail: { details: string } }).detail.details).toContain(
      "disk filled up",
    );

    // Space comes back: the big output goes.
    rmSync(seen(`jobs/${filler}/outputs/fill.bin`));
    expect(
      await eventually(() => {
        return existsSync(seen("disk-reserve"));
      }, 15000),
    ).toBe(true);
    const after = await daemon.submit({
      script: scriptFile("export async function main() { return 'room'; }"),
    });
    expect(after.status).toBe(200);
    const next = await daemon.waitFor(((await after.json()) as { uuid: string }).uuid, undefined, 30000);
    expect(next.status).toBe("SUCCESS");
    expect(next.result).toBe("room");
    const healthy = (await (await daemon.api("/health", { auth: false })).json()) as { status: string };
    expect(healthy.status).toBe("ok");
    // Slots and store agree: nothing is left STARTED.
    const queues = (await (await daemon.api("/queues")).json()) as unknown;
    expect(JSON.stringify(queues)).not.toMatch(/"running":\s*[1-9]/);
  }, 90000);
});

describe("MIN_FREE_DISK larger than the disk", () => {
  test("the start log warns that every upload will be refused", async () => {
    const dataDir = tempDir();
    const daemon = await startServeProcess(FROM_SOURCE, {
      dataDir,
      cwd: ROOT,
      env: { MIN_FREE_DISK: "1000TiB" },
    });
    processes.push(daemon);
    expect(daemon.log()).toMatch(/WARN MIN_FREE_DISK \(1000(\.0)? TiB\) is larger than the whole data disk/);
    const health = (await (await daemon.api("/health", { auth: false })).json()) as {
      disk: { status: string };
    };
    expect(health.disk.status).toBe("low");
  }, 30000);
});
