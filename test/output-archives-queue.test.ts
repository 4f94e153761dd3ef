// The internal zip queue on its own: a request starts one build, later requests see it running,
// then the cached zip; repack builds again; a failed build is reported once. And the zip stream
// keeps memory flat for outputs of any size.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { OutputArchives } from "../src/daemon/output-archives.ts";
import { silentLogger } from "../src/log/logger.ts";
import { JobFolders } from "../src/storage/job-folders.ts";
import { zipStream } from "../src/storage/output-archive.ts";
import { tempDir } from "./helpers/daemon.ts";

const dataDir = tempDir("pxs-zipq-");
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
const folders = new JobFolders(dataDir);

function jobWithOutputs(files: Record<string, string>): string {
  const uuid = crypto.randomUUID();
  for (const [name, content] of Object.entries(files)) {
    const path = join(folders.outputsDir(uuid), name);
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, content);
  }
  return uuid;
}

describe("the zip queue", () => {
  test("building, then the cached zip; repack builds a new one", async () => {
    const archives = new OutputArchives(folders, silentLogger);
    const uuid = jobWithOutputs({ "a.txt": "alpha", "b/c.txt": "gamma" });
    expect(archives.request(uuid)).toEqual({ state: "building", started: true });
    expect(archives.request(uuid)).toEqual({ state: "building", started: false });
    expect(archives.isBuilding(uuid)).toBe(true);
    await archives.idle();
    const ready = archives.request(uuid);
    expect(ready).toEqual({ state: "ready", path: folders.outputArchive(uuid) });
    const zip = unzipSync(new Uint8Array(await Bun.file(folders.outputArchive(uuid)).arrayBuffer()));
    expect(Object.keys(zip).sort()).toEqual(["a.txt", "b/c.txt"]);

    writeFileSync(join(folders.outputsDir(uuid), "late.txt"), "new");
    expect(archives.request(uuid)).toEqual({ state: "ready", path: folders.outputArchive(uuid) });
    expect(archives.request(uuid, true)).toEqual({ state: "building", started: true });
    await archives.idle();
    const rebuilt = unzipSync(new Uint8Array(await Bun.file(folders.outputArchive(uuid)).arrayBuffer()));
    expect(Object.keys(rebuilt).sort()).toEqual(["a.txt", "b/c.txt", "late.txt"]);
  });

  test("a build that fails is reported once, then tried again", async () => {
    const archives = new OutputArchives(folders, silentLogger);
    const uuid = jobWithOutputs({ "a.txt": "alpha" });
    writeFileSync(folders.archivesDir(uuid), "a file where the archives folder should be");
    archives.request(uuid);
    await archives.idle();
    const failed = archives.request(uuid);
    expect(failed.state).toBe("failed");
    expect((failed as { error: Error }).error.message).toContain("The archive could not be built");
    rmSync(folders.archivesDir(uuid));
    expect(archives.request(uuid)).toEqual({ state: "building", started: true });
    await archives.idle();
    expect(archives.request(uuid).state).toBe("ready");
  });

  test("failures nobody asks about are not kept forever: past the bound the oldest is forgotten", async () => {
    const archives = new OutputArchives(folders, silentLogger, 2);
    const uuids = [1, 2, 3].map(() => {
      const uuid = jobWithOutputs({ "a.txt": "alpha" });
      writeFileSync(folders.archivesDir(uuid), "a file where the archives folder should be");
      return uuid;
    });
    for (const uuid of uuids) {
      archives.request(uuid);
      await archives.idle();
    }
    expect(archives.request(uuids[2]!).state).toBe("failed");
    expect(archives.request(uuids[1]!).state).toBe("failed");
    // The first failure was dropped: its request starts a build again instead of reporting it.
    expect(archives.request(uuids[0]!)).toEqual({ state: "building", started: true });
    await archives.idle();
  });
});

describe("the zip stream", () => {
  test("240 MB of outputs are zipped with flat memory (pull-based, one chunk at a time)", async () => {
    const dir = tempDir("pxs-zipmem-");
    try {
      // Sparse zeros: cheap to make, real bytes to read. PNGs are stored, the .bin deflated.
      const sizes: Record<string, number> = { "one.png": 100, "two.png": 100, "three.bin": 40 };
      const names = Object.keys(sizes);
      for (const name of names) {
        writeFileSync(join(dir, name), "");
        truncateSync(join(dir, name), sizes[name]! * 1024 * 1024);
      }
      Bun.gc(true);
      const baseline = process.memoryUsage.rss();
      let peak = baseline;
      let total = 0;
      for await (const chunk of zipStream(dir, names)) {
        total += chunk.length;
        peak = Math.max(peak, process.memoryUsage.rss());
      }
      expect(total).toBeGreaterThan(200 * 1024 * 1024);
      // Buffering would grow by at least the 240 MB it zips; streaming stays well under that. The
      // bound is loose on purpose (this process also runs the test runner); bench/ has the numbers.
      expect((peak - baseline) / 1024 / 1024).toBeLessThan(160);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60000);
});
