// Archive inputs through the real API: .zip, .tar, .tar.gz/.tgz uploads are extracted into the
// job's inputs folder; anything that could escape it or exhaust the disk is a 400 naming the entry,
// with nothing left behind; ctx.inputFile() resolves the root file.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { strToU8, type Zippable, zipSync } from "fflate";
import { pack } from "tar-stream";
import { scriptFile, stagedUploads, startTestDaemon, type TestDaemon } from "./helpers/daemon.ts";

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(() => d.close());

const INSPECT = `
  import { relative } from "node:path";
  export async function main(ctx, params) {
    let root;
    try {
      const file = ctx.inputFile();
      root = { path: relative(ctx.inputDir(), file), text: await Bun.file(file).text() };
    } catch (error) {
      root = { error: error.message };
    }
    const byName = params.lookup ? relative(ctx.inputDir(), ctx.inputFile(params.lookup)) : null;
    return { root, byName, archive: ctx.inputArchive() && relative(ctx.inputDir(), ctx.inputArchive()) };
  }`;

const UNIX_SYMLINK = (0o120777 << 16) >>> 0;
const UNIX_CHAR_DEVICE = (0o020644 << 16) >>> 0;

function zipFile(name: string, entries: Zippable): File {
  return new File([zipSync(entries, { level: 6 })], name);
}

interface TarEntry {
  name: string;
  type?: "file" | "directory" | "symlink" | "link" | "character-device" | "block-device" | "fifo";
  linkname?: string;
  body?: string;
}

async function tarBytes(entries: TarEntry[]): Promise<Uint8Array<ArrayBuffer>> {
  const tar = pack();
  const chunks: Uint8Array[] = [];
  tar.on("data", (chunk) => {
    chunks.push(chunk as Uint8Array);
  });
  const ended = new Promise<void>((resolve) => tar.on("end", () => resolve()));
  for (const { body, ...header } of entries) {
    await new Promise<void>((resolve, reject) =>
      tar.entry({ type: "file", ...header }, body ?? "", (error) => (error ? reject(error) : resolve())),
    );
  }
  tar.finalize();
  await ended;
  return new Uint8Array(Buffer.concat(chunks));
}

async function submitInput(file: File, extra: Record<string, string> = {}) {
  const res = await d.submit({ script: scriptFile(INSPECT), file, ...extra });
  return { res, body: (await res.json()) as Record<string, unknown> & { detail?: { details: string } } };
}

const jobDirs = () => readdirSync(join(d.dataDir, "jobs")).filter((n) => n !== ".staging");

/** A refused archive: 400 naming the entry, nothing staged, no job folder. */
async function expectRefused(file: File, ...words: string[]) {
  const before = jobDirs();
  const { res, body } = await submitInput(file);
  expect(res.status).toBe(400);
  for (const word of words) expect(body.detail!.details).toContain(word);
  expect(stagedUploads(d.dataDir)).toEqual([]);
  expect(jobDirs()).toEqual(before);
  return body.detail!.details;
}

describe("archives that try to leave the inputs folder are refused", () => {
  test("zip-slip: an entry named ../../x", async () => {
    await expectRefused(
      zipFile("slip.zip", { "ok.obj": strToU8("fine"), "../../evil.sh": strToU8("echo owned") }),
      "'slip.zip'",
      '"../../evil.sh"',
      "'..'",
    );
    expect(existsSync(join(d.dataDir, "evil.sh"))).toBe(false);
  });

  test("zip-slip with Windows separators", async () => {
    await expectRefused(zipFile("win.zip", { "..\\..\\evil.bat": strToU8("x") }), '"..\\\\..\\\\evil.bat"');
  });

  test("an absolute path in a zip and in a tar", async () => {
    await expectRefused(
      zipFile("abs.zip", { "/etc/cron.d/evil": strToU8("x") }),
      '"/etc/cron.d/evil"',
      "absolute",
    );
    const tar = await tarBytes([{ name: "/tmp/evil", body: "x" }]);
    await expectRefused(new File([tar], "abs.tar"), '"/tmp/evil"', "absolute");
  });

  test("a symlink escaping the folder, in a zip and in a tar", async () => {
    await expectRefused(
      zipFile("link.zip", { "etc-link": [strToU8("../../../../etc"), { os: 3, attrs: UNIX_SYMLINK }] }),
      '"etc-link"',
      "points outside",
    );
    const tar = await tarBytes([
      { name: "a/", type: "directory" },
      { name: "a/up", type: "symlink", linkname: "../.." },
    ]);
    await expectRefused(new File([tar], "link.tar"), '"a/up"', "points outside");
    // A target that stays inside on paper but escapes through another link ('here' -> '.'):
    // sub/../here/sub/../../inputs is <root>/inputs as text, <root>/../inputs on disk.
    const chained = await tarBytes([
      { name: "sub/", type: "directory" },
      { name: "here", type: "symlink", linkname: "." },
      { name: "sub/escape", type: "symlink", linkname: "../here/sub/../../inputs" },
    ]);
    await expectRefused(new File([chained], "chain.tar"), "points outside");
    const hard = await tarBytes([{ name: "passwd", type: "link", linkname: "/etc/passwd" }]);
    await expectRefused(new File([hard], "hard.tar"), '"passwd"', "points outside");
  });

  test("a tar with a device entry, a zip with a device entry", async () => {
    const tar = await tarBytes([
      { name: "model.obj", body: "v 0 0 0" },
      { name: "dev/null", type: "character-device" },
    ]);
    await expectRefused(new File([tar], "dev.tar"), '"dev/null"', "device");
    await expectRefused(
      zipFile("dev.zip", { tty: [new Uint8Array(0), { os: 3, attrs: UNIX_CHAR_DEVICE }] }),
      '"tty"',
      "device",
    );
  });

  test("a zip bomb: a tiny archive declaring a huge extraction", async () => {
    const bomb = zipFile("bomb.zip", { "zeros.bin": [new Uint8Array(100 * 1024 * 1024), { level: 9 }] });
    expect(bomb.size).toBeLessThan(1024 * 1024);
    await expectRefused(bomb, "'bomb.zip'", "ARCHIVE_MAX_RATIO");
  });

  test("a zip bomb that lies about its sizes is stopped while inflating", async () => {
    const bytes = zipSync({ "zeros.bin": [new Uint8Array(50 * 1024 * 1024), { level: 9 }] });
    // Declare 1 KiB in the central directory (its uncompressed-size field is at +24).
    const view = Buffer.from(bytes);
    const central = view.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    view.writeUInt32LE(1024, central + 24);
    await expectRefused(new File([view], "liar.zip"), '"zeros.bin"', "more data than it declares");
  });

  test("a tar.gz bomb is stopped while inflating", async () => {
    const tar = await tarBytes([{ name: "zeros.bin", body: "\0".repeat(60 * 1024 * 1024) }]);
    const gz = Bun.gzipSync(tar, { level: 9 });
    await expectRefused(new File([gz], "bomb.tar.gz"), "ARCHIVE_MAX_RATIO");
  });

  test("an entry with the archive's own name, or the same entry twice", async () => {
    await expectRefused(zipFile("same.zip", { "same.zip": strToU8("x") }), '"same.zip"', "same name");
    const twice = await tarBytes([
      { name: "a.obj", body: "1" },
      { name: "a.obj", body: "2" },
    ]);
    await expectRefused(new File([twice], "twice.tar"), '"a.obj"', "twice");
  });

  test("a file that is not the archive its name says", async () => {
    await expectRefused(new File(["not a zip at all"], "fake.zip"), "'fake.zip'", "not a readable zip");
    await expectRefused(new File(["not gzip"], "fake.tgz"), "'fake.tgz'", "not a readable tar.gz");
  });
});

describe("limits come from the configuration", () => {
  test("ARCHIVE_MAX_ENTRIES and ARCHIVE_MAX_SIZE", async () => {
    const limited = await startTestDaemon({ ARCHIVE_MAX_ENTRIES: "3", ARCHIVE_MAX_SIZE: "1K" });
    try {
      const many = zipFile("many.zip", {
        a: strToU8("1"),
        b: strToU8("2"),
        c: strToU8("3"),
        e: strToU8("4"),
      });
      let res = await limited.submit({ script: scriptFile(INSPECT), file: many });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain("ARCHIVE_MAX_ENTRIES");
      const big = zipFile("big.zip", { "big.bin": new Uint8Array(2048) });
      res = await limited.submit({ script: scriptFile(INSPECT), file: big });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain("ARCHIVE_MAX_SIZE");
    } finally {
      await limited.close();
    }
  });
});

describe("the root file", () => {
  // A CATProduct with its CATParts, as CAD tools export them: the top assembly is the root,
  // not a sub-assembly or a part (the original's os.walk order could pick either).
  const brakes: Zippable = {
    "Brakes/": {},
    "Brakes/Parts/Disc.CATPart": strToU8("disc"),
    "Brakes/Parts/Pad.CATPart": strToU8("pad"),
    "Brakes/Caliper/Caliper.CATProduct": strToU8("sub-assembly"),
    "Brakes/Caliper/Piston.CATPart": strToU8("piston"),
    "Brakes/_PiXYZ-DEMO-BRAKES.CATProduct": strToU8("top assembly"),
    "Brakes/readme.txt": strToU8("not 3D"),
  };

  test("a nested CAD zip: ctx.inputFile() is the top assembly; the archive is kept; names resolve", async () => {
    const { res, body } = await submitInput(zipFile("Brakes.zip", brakes), {
      params: JSON.stringify({ lookup: "Piston.CATPart" }),
    });
    expect(res.status).toBe(200);
    const details = await d.waitFor(body.uuid as string);
    expect(details).toMatchObject({
      status: "SUCCESS",
      input_file: "Brakes.zip",
      root_file: "Brakes/_PiXYZ-DEMO-BRAKES.CATProduct",
      result: {
        root: { path: "Brakes/_PiXYZ-DEMO-BRAKES.CATProduct", text: "top assembly" },
        byName: "Brakes/Caliper/Piston.CATPart",
        archive: "Brakes.zip",
      },
    });
  });

  test("config.root_file picks the file; one that is not in the archive is a 400", async () => {
    const { body } = await submitInput(zipFile("Brakes.zip", brakes), {
      config: JSON.stringify({ root_file: "Brakes/Caliper/Caliper.CATProduct" }),
    });
    expect(await d.waitFor(body.uuid as string)).toMatchObject({
      root_file: "Brakes/Caliper/Caliper.CATProduct",
      result: { root: { text: "sub-assembly" } },
    });
    const before = jobDirs();
    const missing = await submitInput(zipFile("Brakes.zip", brakes), {
      config: JSON.stringify({ root_file: "Brakes/Wheel.CATPart" }),
    });
    expect(missing.res.status).toBe(400);
    expect(missing.body.detail!.details).toContain(
      "config.root_file 'Brakes/Wheel.CATPart' is not a file of 'Brakes.zip'",
    );
    expect(jobDirs()).toEqual(before);
  });

  test("params.filename names the root file of a tar.gz (by base name); a .tgz works the same", async () => {
    const tar = await tarBytes([
      { name: "asm/", type: "directory" },
      { name: "asm/top.stp", body: "top" },
      { name: "asm/parts/bolt.stp", body: "bolt" },
      { name: "asm/parts/alias.stp", type: "symlink", linkname: "bolt.stp" },
      { name: "asm/copy.stp", type: "link", linkname: "asm/top.stp" },
    ]);
    const gz = Bun.gzipSync(tar);
    for (const name of ["model.tar.gz", "model.TGZ"]) {
      const { res, body } = await submitInput(new File([gz], name), {
        params: JSON.stringify({ filename: "bolt.stp" }),
      });
      expect(res.status).toBe(200);
      const details = await d.waitFor(body.uuid as string);
      expect(details).toMatchObject({
        status: "SUCCESS",
        root_file: "asm/parts/bolt.stp",
        result: { root: { text: "bolt" } },
      });
      const inputs = join(d.dataDir, "jobs", body.uuid as string, "inputs");
      expect(readlinkSync(join(inputs, "asm/parts/alias.stp"))).toBe("bolt.stp");
      expect(lstatSync(join(inputs, "asm/copy.stp")).isFile()).toBe(true);
      expect(await Bun.file(join(inputs, "asm/copy.stp")).text()).toBe("top");
      expect(existsSync(join(inputs, name))).toBe(true);
    }
  });

  test("an archive with no 3D file is accepted with a warning; ctx.inputFile() then says what to do", async () => {
    const { res, body } = await submitInput(
      zipFile("docs.zip", { "a.txt": strToU8("a"), "b/c.md": strToU8("c") }),
      {
        params: JSON.stringify({ lookup: "c.md" }),
      },
    );
    expect(res.status).toBe(200);
    expect(body.warnings).toEqual([
      "'docs.zip' holds no file with a known 3D extension: set config.root_file to the file to open",
    ]);
    const details = await d.waitFor(body.uuid as string);
    expect(details).toMatchObject({ status: "SUCCESS", root_file: null, result: { byName: "b/c.md" } });
    const result = details.result as { root: { error: string } };
    expect(result.root.error).toContain("The archive 'docs.zip' has no root file");
  });

  test("a plain upload: ctx.inputFile() is the file itself, with or without its name", async () => {
    const { body } = await submitInput(new File(["solid"], "part.stl"), {
      params: JSON.stringify({ lookup: "part.stl" }),
    });
    expect(await d.waitFor(body.uuid as string)).toMatchObject({
      root_file: null,
      result: { root: { path: "part.stl", text: "solid" }, byName: "part.stl", archive: null },
    });
  });
});
