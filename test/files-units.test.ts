// The pure pieces of the file paths: archive entry names, the root-file choice, finding an input
// by name, HTTP ranges, Content-Disposition, and the settings that bound them.
import { describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { strToU8, zipSync } from "fflate";
import { contentDisposition, parseRange } from "../src/api/download.ts";
import { loadConfig } from "../src/config/config.ts";
import { findFile } from "../src/sdk/find-file.ts";
import { archiveKind, entryPath, extractArchive } from "../src/storage/archive-extract.ts";
import { chooseRootFile, isCadFile } from "../src/storage/root-file.ts";
import { formatBytes } from "../src/text/bytes.ts";
import { tempDir } from "./helpers/daemon.ts";

describe("archive entry names", () => {
  test("safe names are normalised", () => {
    expect(entryPath("a.zip", "dir/./sub//file.obj")).toBe("dir/sub/file.obj");
    expect(entryPath("a.zip", "./dir/")).toBe("dir");
    expect(entryPath("a.zip", "win\\style\\part.stp")).toBe("win/style/part.stp");
    expect(entryPath("a.zip", "./")).toBe("");
  });

  test("escapes, absolute paths and NUL bytes are refused, naming the entry and the archive", () => {
    for (const [name, why] of [
      ["../x", "'..'"],
      ["a/../../x", "'..'"],
      ["a\\..\\..\\x", "'..'"],
      ["/etc/passwd", "absolute"],
      ["C:\\Windows\\x", "absolute"],
      ["c:/x", "absolute"],
      ["a\0b", "NUL"],
      [`${"x".repeat(256)}/y`, "too long"],
    ] as const) {
      expect(() => entryPath("in.tar", name)).toThrow(why);
      expect(() => entryPath("in.tar", name)).toThrow(
        `The archive 'in.tar' was refused: entry ${JSON.stringify(name)}`,
      );
    }
  });

  test("archive kinds by name, any case", () => {
    expect(["a.zip", "a.ZIP", "a.tar", "a.tar.gz", "a.TGZ", "a.obj", "a.gz", "zip"].map(archiveKind)).toEqual(
      ["zip", "zip", "tar", "tar.gz", "tar.gz", null, null, null],
    );
  });
});

describe("the root file", () => {
  test("the shallowest 3D file; an assembly before a part at the same depth; then by name", () => {
    expect(
      chooseRootFile([
        "Brakes/Caliper/Caliper.CATProduct",
        "Brakes/Parts/Disc.CATPart",
        "Brakes/readme.txt",
        "Brakes/z_part.CATPart",
        "Brakes/_TOP.CATProduct",
      ]),
    ).toBe("Brakes/_TOP.CATProduct");
    expect(chooseRootFile(["b.stp", "a.stp", "deep/x.iam"])).toBe("a.stp");
    expect(chooseRootFile(["notes.txt", "img.png"])).toBeNull();
  });

  test("extensions are matched whole and in any case (the original's endswith matched 'mysat' too)", () => {
    expect(["m.step", "m.STP", "m.x_t", "m.usdz", "m.glb", "m.JT", "m.xmt_txt"].every(isCadFile)).toBe(true);
    expect(["mysat", "m.txt", "m.step.bak", "step", ".glb"].some(isCadFile)).toBe(false);
  });

  test("findFile: the exact relative path, else the one file ending with that name", () => {
    const files = ["a/x.stp", "b/x.stp", "b/y.stp", "y.obj"];
    expect(findFile(files, "b/y.stp")).toEqual({ path: "b/y.stp" });
    expect(findFile(files, "y.stp")).toEqual({ path: "b/y.stp" });
    expect(findFile(files, "./y.obj")).toEqual({ path: "y.obj" });
    expect(findFile(files, "x.stp")).toEqual({ error: "ambiguous", candidates: ["a/x.stp", "b/x.stp"] });
    expect(findFile(files, "z.stp")).toEqual({ error: "missing", candidates: [] });
  });
});

describe("HTTP ranges", () => {
  test("single ranges, clamped to the file", () => {
    expect(parseRange("bytes=0-9", 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange("bytes=90-", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=-10", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=-1000", 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange("bytes=50-5000", 100)).toEqual({ start: 50, end: 99 });
  });

  test("past the end is unsatisfiable; absent, malformed or several ranges serve the whole file", () => {
    expect(parseRange("bytes=100-", 100)).toBe("unsatisfiable");
    expect(parseRange("bytes=-0", 100)).toBe("unsatisfiable");
    for (const header of [null, "", "bytes=5-1", "items=0-1", "bytes=0-1,5-6", "bytes=-"]) {
      expect(parseRange(header, 100)).toBeNull();
    }
  });

  test("Content-Disposition keeps the exact name and an ASCII fallback", () => {
    expect(contentDisposition('a "q".glb')).toBe(
      `attachment; filename="a _q_.glb"; filename*=UTF-8''a%20%22q%22.glb`,
    );
    expect(contentDisposition("plan(1)*.pdf")).toBe(
      `attachment; filename="plan(1)*.pdf"; filename*=UTF-8''plan%281%29%2A.pdf`,
    );
  });
});

describe("settings", () => {
  const load = (env: Record<string, string>) => loadConfig({ env: { DATA_DIR: "/tmp/x", ...env } });

  test("defaults", () => {
    const config = load({});
    expect(config).toMatchObject({
      maxUploadBytes: 10 * 1024 ** 3,
      minFreeDiskBytes: 1024 ** 3,
      archiveMaxEntries: 100_000,
      archiveMaxBytes: 64 * 1024 ** 3,
      archiveMaxRatio: 200,
      cleanupEnabled: false,
      cleanupDelayS: 3600,
      cleanupCron: "0 */10 * * * *",
      jobRetentionS: 0,
    });
  });

  test("values, and what a bad one says", () => {
    expect(load({ MIN_FREE_DISK: "0", MAX_UPLOAD_SIZE: "512M", CLEANUP_CRON: "*/5 * * * *" })).toMatchObject({
      minFreeDiskBytes: 0,
      maxUploadBytes: 512 * 1024 ** 2,
      cleanupCron: "*/5 * * * *",
    });
    expect(() => load({ MAX_UPLOAD_SIZE: "0" })).toThrow("invalid MAX_UPLOAD_SIZE");
    expect(() => load({ ARCHIVE_MAX_RATIO: "0" })).toThrow("invalid ARCHIVE_MAX_RATIO");
    expect(() => load({ CLEANUP_CRON: "61 * * * * *" })).toThrow("invalid CLEANUP_CRON");
    expect(() => load({ JOB_RETENTION: "-1" })).toThrow("invalid JOB_RETENTION");
  });

  test("sizes in messages", () => {
    expect([0, 1023, 1024, 1536, 10 * 1024 ** 3].map(formatBytes)).toEqual([
      "0 bytes",
      "1023 bytes",
      "1 KiB",
      "1.5 KiB",
      "10 GiB",
    ]);
  });
});

describe("zip entries are checked against their CRC-32", () => {
  const limits = { maxEntries: 10, maxBytes: 1 << 20, maxRatio: 100, minFreeDisk: 0 };
  const extract = async (bytes: Uint8Array) => {
    const dir = tempDir("pxs-crc-");
    const inputs = join(dir, "inputs");
    mkdirSync(inputs);
    writeFileSync(join(dir, "in.zip"), bytes);
    try {
      return await extractArchive(join(dir, "in.zip"), "zip", inputs, limits, "in.zip");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const text = "the same bytes, stored and deflated, in pieces of the stream ".repeat(500);

  test("entries whose data matches their CRC are extracted, stored or deflated", async () => {
    const zip = zipSync({
      "stored.txt": [strToU8(text), { level: 0 }],
      "deflated.txt": [strToU8(text), { level: 6 }],
    });
    expect((await extract(zip)).files).toEqual(["deflated.txt", "stored.txt"]);
  });

  test("a byte changed in a stored entry's data is refused as corrupt", async () => {
    const zip = zipSync({ "stored.txt": [strToU8(text), { level: 0 }] });
    const at = new TextDecoder("latin1").decode(zip).indexOf("pieces");
    zip[at] = "P".charCodeAt(0);
    await expect(extract(zip)).rejects.toThrow('entry "stored.txt" is corrupt (CRC mismatch)');
  });
});
