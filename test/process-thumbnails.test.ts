// generate_thumbnails and thumbnail_chained through the real API, on a CPU-only daemon (gpu work
// falls back to the cpu slots, GPU_FALLBACK=cpu by default): PNGs of the requested size with a
// transparent background and the model in the middle, views that differ, a decimated preview.glb,
// the original's steps and result shapes; the chained version as real child jobs.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startTestDaemon, type TestDaemon } from "./helpers/daemon.ts";
import {
  OBJ_CUBE,
  OCCT_TESTFILES_DIR,
  outputOf,
  type Png,
  readGltf,
  readPng,
  runModelProcess,
  stepBox,
} from "./helpers/models.ts";

setDefaultTimeout(30_000);

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(() => d.close());

const box = () => new File([stepBox(100, 50, 20)], "box.step");

const run = (process: string, file: File, params: unknown = {}) => runModelProcess(d, process, file, params);
const output = (job: Record<string, unknown>, name: string) => outputOf(d, job, name);

function png(job: Record<string, unknown>, name: string): Png {
  return readPng(readFileSync(output(job, name)));
}

/** Pixel statistics: how many are opaque, partly covered (anti-aliased edges), and their mean color. */
function stats(image: Png) {
  let opaque = 0;
  let partial = 0;
  const sum = [0, 0, 0];
  for (let i = 0; i < image.pixels.length; i += 4) {
    const alpha = image.pixels[i + 3]!;
    if (alpha === 255) opaque++;
    else if (alpha > 0) partial++;
    if (alpha > 0) for (let k = 0; k < 3; k++) sum[k]! += image.pixels[i + k]!;
  }
  const covered = opaque + partial;
  return { opaque, partial, mean: sum.map((s) => Math.round(s / Math.max(1, covered))) };
}

/** Width and height of the rectangle around the pixels at least half covered. */
function extent(image: Png): { width: number; height: number } {
  let minX = Infinity;
  let maxX = -1;
  let minY = Infinity;
  let maxY = -1;
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      if (alphaAt(image, x, y) < 128) continue;
      minX = Math.min(minX, x);
      maxX = Math.max(maxX, x);
      minY = Math.min(minY, y);
      maxY = Math.max(maxY, y);
    }
  }
  return { width: maxX - minX + 1, height: maxY - minY + 1 };
}

function alphaAt(image: Png, x: number, y: number): number {
  return image.pixels[(y * image.width + x) * 4 + 3]!;
}

/** Every pixel of the image's outer frame is fully transparent. */
function transparentBorder(image: Png): boolean {
  for (let x = 0; x < image.width; x++) {
    if (alphaAt(image, x, 0) !== 0 || alphaAt(image, x, image.height - 1) !== 0) return false;
  }
  for (let y = 0; y < image.height; y++) {
    if (alphaAt(image, 0, y) !== 0 || alphaAt(image, image.width - 1, y) !== 0) return false;
  }
  return true;
}

const STEPS = [
  "Importing file 'box.step'",
  "Repairing CAD",
  "Repairing Mesh",
  "tessellateRelativelyToAABB",
  "Creating viewer",
  "Creating GPUScene",
  "Screenshotting",
  "Combine Material",
  "DecimateTarget",
  "Exporting model preview to preview.glb",
  "Generating metadata",
  "Export 'metadata.json'",
];

describe("generate_thumbnails", () => {
  test("four PNGs of the requested size: transparent around, the box in the middle, each view its own", async () => {
    const job = await run("generate_thumbnails", box(), { width: 200, height: 150 });
    expect(job).toMatchObject({
      status: "SUCCESS",
      queue: "gpu",
      result: {
        thumbs: { iso: "iso.png", x: "x.png", y: "y.png", z: "z.png" },
        preview: { file: "preview.glb", size: "200x150" },
        metadata: { aabb: "113.57816691600547", polygon_count: 12, brep_body_count: 1 },
        process_duration: expect.any(Number),
      },
    });
    expect((job.steps as { info: string }[]).map((s) => s.info)).toEqual(STEPS);
    // On this CPU-only daemon the gpu job ran on a cpu slot, and says so.
    expect((job.attempts as { slot: string; note: string }[])[0]).toMatchObject({
      slot: expect.stringMatching(/^cpu-/),
    });
    const list = ((await (await d.api(`/jobs/${job.uuid}/outputs`)).json()) as { outputs: string[] }).outputs;
    expect(list.sort()).toEqual(["iso.png", "metadata.json", "preview.glb", "x.png", "y.png", "z.png"]);

    const views = Object.fromEntries(["iso", "x", "y", "z"].map((v) => [v, png(job, `${v}.png`)]));
    const figures: Record<string, ReturnType<typeof stats>> = {};
    for (const [name, image] of Object.entries(views)) {
      expect({ name, width: image.width, height: image.height }).toEqual({ name, width: 200, height: 150 });
      expect({ name, border: transparentBorder(image) }).toEqual({ name, border: true });
      expect({ name, centre: alphaAt(image, 100, 75) }).toEqual({ name, centre: 255 });
      figures[name] = stats(image);
    }
    // Anti-aliased: the slanted outline of the iso view has partly covered pixels.
    expect(figures.iso!.partial).toBeGreaterThan(50);
    // The box is 100 x 50 x 20. Face-on, each view's outline is the near face: the x view (along -Z)
    // sees 100 x 50, y (along -X) 20 x 50, z (down -Y, -Z up) 100 x 20, each as large as the frame allows.
    const ratio = (v: string) => extent(views[v]!).width / extent(views[v]!).height;
    expect(ratio("x")).toBeCloseTo(2, 1);
    expect(ratio("y")).toBeCloseTo(0.4, 1);
    expect(ratio("z")).toBeCloseTo(5, 0);
    expect(Math.max(extent(views.x!).width / 200, extent(views.x!).height / 150)).toBeGreaterThan(0.85);
    // The iso view sees three faces, each shaded differently.
    const isoShades = new Set<number>();
    const iso = views.iso!;
    for (let i = 0; i < iso.pixels.length; i += 4)
      if (iso.pixels[i + 3] === 255) isoShades.add(iso.pixels[i]!);
    expect(isoShades.size).toBeGreaterThanOrEqual(3);
    expect(new Set(Object.values(figures).map((f) => JSON.stringify(f))).size).toBe(4);

    expect(await readGltf(output(job, "preview.glb"))).toMatchObject({
      triangles: 12,
      bounds: { min: [0, 0, 0], max: [100, 50, 20] },
    });
    expect(JSON.parse(readFileSync(output(job, "metadata.json"), "utf8"))).toEqual(
      (job.result as { metadata: unknown }).metadata,
    );
  });

  test("the OBJ cube at the default size, and a preview decimated to its budget", async () => {
    const conical = new File(
      [readFileSync(join(OCCT_TESTFILES_DIR, "conical-surface/conical-surface.step"))],
      "cone.step",
    );
    const [cube, cone] = await Promise.all([
      run("generate_thumbnails", new File([OBJ_CUBE], "cube.obj")),
      run("generate_thumbnails", conical, { width: 64, height: 64, preview_triangles: 200 }),
    ]);
    expect(cube).toMatchObject({ status: "SUCCESS", result: { preview: { size: "512x512" } } });
    const iso = png(cube, "iso.png");
    expect([iso.width, iso.height, alphaAt(iso, 256, 256), transparentBorder(iso)]).toEqual([
      512,
      512,
      255,
      true,
    ]);
    // Face-on, the cube's x, y and z views are the same square; the iso view is not.
    expect(stats(png(cube, "x.png"))).toEqual(stats(png(cube, "y.png")));
    expect(stats(iso)).not.toEqual(stats(png(cube, "x.png")));

    expect(cone.status).toBe("SUCCESS");
    const polygons = (cone.result as { metadata: { polygon_count: number } }).metadata.polygon_count;
    expect(polygons).toBeGreaterThan(1000);
    const preview = await readGltf(output(cone, "preview.glb"));
    expect(preview.triangles).toBeLessThan(polygons / 3);
    expect(preview.triangles).toBeGreaterThan(50);
  });

  test("a size out of bounds is refused with the bounds", async () => {
    const job = await run("generate_thumbnails", box(), { width: 4096 });
    expect(job.status).toBe("FAILURE");
    expect(String(job.error).split("\n")[0]).toBe(
      "ModelError: params.width must be a whole number of pixels from 16 to 2048, got 4096",
    );
  });
});

describe("thumbnail_chained", () => {
  test("imports on cpu, renders on gpu (on a cpu slot here), joins; outputs in the parent's folder", async () => {
    const job = await run("thumbnail_chained", box(), { width: 96, height: 96 });
    expect(job).toMatchObject({
      status: "SUCCESS",
      queue: "control",
      result: {
        filepath: "box.step",
        output_dir: "outputs",
        width: 96,
        height: 96,
        pxz: "export.glb",
        preview: { file: "preview.glb", size: "96x96" },
        metadata: { aabb: "113.57816691600547", brep_body_count: 1, polygon_count: 12 },
        thumbs: { iso: "iso.png", x: "x.png", y: "y.png", z: "z.png" },
        process_duration: expect.any(Number),
      },
    });
    expect((job.steps as { info: string }[]).map((s) => s.info)).toEqual([
      "Import and tessellate on cpu",
      "Render on gpu",
      "Join",
    ]);
    const list = ((await (await d.api(`/jobs/${job.uuid}/outputs`)).json()) as { outputs: string[] }).outputs;
    expect(list.sort()).toEqual([
      "export.glb",
      "iso.png",
      "metadata.json",
      "preview.glb",
      "x.png",
      "y.png",
      "z.png",
    ]);
    expect(png(job, "iso.png")).toMatchObject({ width: 96, height: 96 });

    const children = job.children as string[];
    expect(children).toHaveLength(2);
    const [prepare, render] = await Promise.all(children.map((uuid) => d.waitFor(uuid)));
    expect(prepare).toMatchObject({ status: "SUCCESS", queue: "cpu", name: "prepare", parent: job.uuid });
    expect(render).toMatchObject({ status: "SUCCESS", queue: "gpu", name: "render", parent: job.uuid });
    // No GPU here: the gpu child ran on a cpu slot (GPU_FALLBACK=cpu), and its attempt says so.
    const attempt = (render!.attempts as { slot: string; note: string | null }[])[0]!;
    expect(attempt.slot).toMatch(/^cpu-/);
    expect(attempt.note).toContain("no GPU");
  });
});
