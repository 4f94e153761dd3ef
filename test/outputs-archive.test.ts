// GET /jobs/{uuid}/outputs/archive as the original (425 until the job is finished and the zip is
// built by the internal zip queue, then cached; repack=true rebuilds), and file downloads with
// Content-Type, Content-Disposition, Content-Length and HTTP ranges.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { scriptFile, startTestDaemon, type TestDaemon, tempDir } from "./helpers/daemon.ts";

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(() => d.close());

/** Writes a few outputs, then waits for `params.gate` to exist before it ends. */
const GATED = `
  import { existsSync } from "node:fs";
  export async function main(ctx, params) {
    await Bun.write(ctx.outputDir("report.json"), JSON.stringify({ ok: true }));
    await Bun.write(ctx.outputDir("nested/deep/mesh.bin"), new Uint8Array(300 * 1024).map((_, i) => (i * 31) % 251));
    await Bun.write(ctx.outputDir("thumb.png"), new Uint8Array(5000).map((_, i) => i % 7));
    await Bun.write(ctx.outputDir("modèle ünï.glb"), "glTF");
    while (!existsSync(params.gate)) await Bun.sleep(20);
    return { done: true };
  }`;

async function submit(source: string, params: unknown = {}): Promise<string> {
  const res = await d.submit({ script: scriptFile(source), params: JSON.stringify(params) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { uuid: string }).uuid;
}

/** Asks for the archive until it is ready (the original client's download_all does the same). */
async function fetchArchive(uuid: string, query = ""): Promise<{ res: Response; tries: number }> {
  for (let tries = 1; tries <= 100; tries++) {
    const res = await d.api(`/jobs/${uuid}/outputs/archive${query}`);
    if (res.status !== 425) return { res, tries };
    expect(res.headers.get("retry-after")).toBe("1");
    await res.arrayBuffer();
    query = ""; // a repack is asked once; then the same build is awaited
    await Bun.sleep(50);
  }
  throw new Error("the archive never became ready");
}

describe("the outputs archive", () => {
  let uuid: string;
  let outputsDir: string;
  const gate = join(tempDir("pxs-gate-"), "open");

  beforeAll(async () => {
    uuid = await submit(GATED, { gate });
    outputsDir = join(d.dataDir, "jobs", uuid, "outputs");
    await d.waitFor(uuid, ["STARTED"]);
  });

  test("is 425 Too Early while the job runs, with Retry-After", async () => {
    const res = await d.api(`/jobs/${uuid}/outputs/archive`);
    expect(res.status).toBe(425);
    expect(res.headers.get("retry-after")).toBeTruthy();
    expect(await res.json()).toEqual({
      detail: { code: 425, message: "Too early", details: `Job '${uuid}' is not finished yet` },
    });
  });

  test("once the job ended: the zip holds exactly the outputs, byte for byte", async () => {
    await Bun.write(gate, "");
    expect(await d.waitFor(uuid)).toMatchObject({ status: "SUCCESS" });
    const { res } = await fetchArchive(uuid);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/zip");
    expect(res.headers.get("content-disposition")).toContain(`filename="${uuid}.zip"`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(res.headers.get("content-length")).toBe(String(bytes.length));
    const entries = unzipSync(bytes);
    const listed = ((await (await d.api(`/jobs/${uuid}/outputs`)).json()) as { outputs: string[] }).outputs;
    expect(Object.keys(entries).sort()).toEqual(listed);
    expect(listed).toEqual(["modèle ünï.glb", "nested/deep/mesh.bin", "report.json", "thumb.png"]);
    for (const name of listed) {
      expect(entries[name]).toEqual(new Uint8Array(await Bun.file(join(outputsDir, name)).arrayBuffer()));
    }
  });

  test("a second request is served from the cache; repack=true builds it again", async () => {
    const archive = join(d.dataDir, "jobs", uuid, "archives", `${uuid}.zip`);
    const first = statSync(archive);
    const cached = await d.api(`/jobs/${uuid}/outputs/archive`);
    expect(cached.status).toBe(200);
    await cached.arrayBuffer();
    const etag = cached.headers.get("etag");
    expect(statSync(archive).ino).toBe(first.ino);

    const { res } = await fetchArchive(uuid, "?repack=true");
    expect(res.status).toBe(200);
    const rebuilt = statSync(archive);
    expect(rebuilt.ino).not.toBe(first.ino);
    expect(res.headers.get("etag")).not.toBe(etag);
    expect(Object.keys(unzipSync(new Uint8Array(await res.arrayBuffer()))).length).toBe(4);
  });

  test("the archive downloads in ranges too", async () => {
    const full = new Uint8Array(await (await d.api(`/jobs/${uuid}/outputs/archive`)).arrayBuffer());
    const part = await d.api(`/jobs/${uuid}/outputs/archive`, { headers: { range: "bytes=10-19" } });
    expect(part.status).toBe(206);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(full.slice(10, 20));
  });

  test("a finished job without outputs gets a valid empty zip; an unknown job a 404", async () => {
    const empty = await submit("export function main() { return 1; }");
    await d.waitFor(empty);
    const { res } = await fetchArchive(empty);
    expect(res.status).toBe(200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(bytes.length).toBe(22); // the end-of-central-directory record alone
    expect(unzipSync(bytes)).toEqual({});
    const unknown = await d.api("/jobs/0b8e5b9a-2c4d-4f6e-9a1b-3c5d7e9f1a2b/outputs/archive");
    expect(unknown.status).toBe(404);
  });

  test("a failed job's outputs are archived too", async () => {
    const failed = await submit(`
      export async function main(ctx) {
        await Bun.write(ctx.outputDir("partial.txt"), "half");
        throw new Error("stop");
      }`);
    expect(await d.waitFor(failed)).toMatchObject({ status: "FAILURE" });
    const { res } = await fetchArchive(failed);
    expect(Object.keys(unzipSync(new Uint8Array(await res.arrayBuffer())))).toEqual(["partial.txt"]);
  });
});

describe("downloads", () => {
  let uuid: string;
  const mesh = new Uint8Array(300 * 1024).map((_, i) => (i * 31) % 251);

  beforeAll(async () => {
    const gate = join(tempDir("pxs-gate-"), "open");
    await Bun.write(gate, "");
    uuid = await submit(GATED, { gate });
    await d.waitFor(uuid);
  });

  test("Content-Type from the name, Content-Disposition with the name, Content-Length", async () => {
    const json = await d.api(`/jobs/${uuid}/outputs/report.json`);
    expect(json.headers.get("content-type")).toStartWith("application/json");
    expect(json.headers.get("content-length")).toBe(String('{"ok":true}'.length));
    expect(json.headers.get("accept-ranges")).toBe("bytes");
    expect(json.headers.get("content-disposition")).toBe(
      `attachment; filename="report.json"; filename*=UTF-8''report.json`,
    );
    expect((await d.api(`/jobs/${uuid}/outputs/thumb.png`)).headers.get("content-type")).toBe("image/png");
    expect((await d.api(`/jobs/${uuid}/outputs/nested/deep/mesh.bin`)).headers.get("content-type")).toBe(
      "application/octet-stream",
    );
    const accented = await d.api(`/jobs/${uuid}/outputs/${encodeURIComponent("modèle ünï.glb")}`);
    expect(accented.status).toBe(200);
    expect(accented.headers.get("content-type")).toBe("model/gltf-binary");
    expect(accented.headers.get("content-disposition")).toBe(
      `attachment; filename="mod_le _n_.glb"; filename*=UTF-8''mod%C3%A8le%20%C3%BCn%C3%AF.glb`,
    );
  });

  test("a Range request returns exactly those bytes (206), open-ended and suffix ranges too", async () => {
    const path = `/jobs/${uuid}/outputs/nested/deep/mesh.bin`;
    const cases: [string, number, number][] = [
      ["bytes=1000-1999", 1000, 1999],
      ["bytes=307000-", 307000, mesh.length - 1],
      ["bytes=-100", mesh.length - 100, mesh.length - 1],
      ["bytes=307100-999999999", 307100, mesh.length - 1],
    ];
    for (const [range, start, end] of cases) {
      const res = await d.api(path, { headers: { range } });
      expect(res.status).toBe(206);
      expect(res.headers.get("content-range")).toBe(`bytes ${start}-${end}/${mesh.length}`);
      expect(res.headers.get("content-length")).toBe(String(end - start + 1));
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(mesh.slice(start, end + 1));
    }
  });

  test("a range past the end is a 416; a stale If-Range gets the whole file", async () => {
    const path = `/jobs/${uuid}/outputs/nested/deep/mesh.bin`;
    const outside = await d.api(path, { headers: { range: `bytes=${mesh.length}-` } });
    expect(outside.status).toBe(416);
    expect(outside.headers.get("content-range")).toBe(`bytes */${mesh.length}`);
    const etag = (await d.api(path)).headers.get("etag")!;
    const matching = await d.api(path, { headers: { range: "bytes=0-9", "if-range": etag } });
    expect(matching.status).toBe(206);
    const stale = await d.api(path, { headers: { range: "bytes=0-9", "if-range": '"other"' } });
    expect(stale.status).toBe(200);
    expect(new Uint8Array(await stale.arrayBuffer())).toEqual(mesh);
  });

  test("a resumed download put together from two ranges is the file", async () => {
    const path = `/jobs/${uuid}/outputs/nested/deep/mesh.bin`;
    const head = new Uint8Array(
      await (await d.api(path, { headers: { range: "bytes=0-99999" } })).arrayBuffer(),
    );
    const rest = new Uint8Array(
      await (await d.api(path, { headers: { range: "bytes=100000-" } })).arrayBuffer(),
    );
    expect(new Uint8Array([...head, ...rest])).toEqual(mesh);
  });
});
