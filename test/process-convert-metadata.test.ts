// The built-in convert_file and generate_metadata processes through the real API: fixtures the
// tests write (an OBJ cube, a STEP box) or that ship in occt-import-js's package, each converted
// file parsed back (vertex and triangle counts, bounds), exact metadata, clear errors.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { zipSync } from "fflate";
import { startTestDaemon, type TestDaemon } from "./helpers/daemon.ts";
import {
  OBJ_CUBE,
  outputOf,
  readGltf,
  readObj,
  readPly,
  readStl,
  runModelProcess,
  stepBox,
} from "./helpers/models.ts";

setDefaultTimeout(30_000);

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(() => d.close());

const cube = () => new File([OBJ_CUBE], "cube.obj");
const box = () => new File([stepBox(100, 50, 20)], "box.step");

const run = (process: string, file: File, params: unknown = {}) => runModelProcess(d, process, file, params);
const outputPath = (job: Record<string, unknown>, name: string) => outputOf(d, job, name);

async function outputs(job: Record<string, unknown>): Promise<string[]> {
  return ((await (await d.api(`/jobs/${job.uuid}/outputs`)).json()) as { outputs: string[] }).outputs.sort();
}

/** The error's first line: what GET /jobs/{uuid} shows (details carry the stack too). */
const headline = (job: Record<string, unknown>) => String(job.error).split("\n")[0];

const CUBE_BOUNDS = { min: [-1, -1, -1], max: [1, 1, 1] };
const BOX_BOUNDS = { min: [0, 0, 0], max: [100, 50, 20] };

describe("the 3D processes are registered", () => {
  test("listed, with their documentation", async () => {
    const list = (await (await d.api("/processes", { auth: false })).json()) as { processes: string[] };
    expect(list.processes).toEqual(
      expect.arrayContaining([
        "convert_file",
        "generate_metadata",
        "generate_thumbnails",
        "thumbnail_chained",
      ]),
    );
    const docs: Record<string, string> = {};
    for (const name of ["convert_file", "generate_metadata", "generate_thumbnails", "thumbnail_chained"]) {
      docs[name] = (
        (await (await d.api(`/processes/${name}`, { auth: false })).json()) as { doc: string }
      ).doc;
    }
    expect(docs.convert_file).toContain('`extension` (string, default "glb")');
    // The block right above `main`, not the first doc comment of the file (thumbnail_chained has others before).
    expect(docs.thumbnail_chained).toStartWith(
      "Process 'thumbnail_chained' documentation:\n\nThumbnails as a workflow of child jobs",
    );
    expect(docs.generate_metadata).toStartWith(
      "Process 'generate_metadata' documentation:\n\nGenerate metadata for a model. Outputs a metadata.json",
    );
    expect(docs.generate_thumbnails).toContain(
      "Generate png thumbnails [iso,x,y,z], preview.glb and metadata.json",
    );
  });
});

describe("convert_file", () => {
  test("an OBJ cube to glb, gltf, obj, stl and ply, each parsed back", async () => {
    const jobs = await Promise.all(
      ["glb", "gltf", "obj", "stl", "ply"].map(
        async (extension) => [extension, await run("convert_file", cube(), { extension })] as const,
      ),
    );
    for (const [extension, job] of jobs) {
      expect({ extension, status: job.status, result: job.result }).toEqual({
        extension,
        status: "SUCCESS",
        result: { output: `output.${extension}` },
      });
      expect(job.steps).toEqual([
        { info: "Importing file 'cube.obj'", duration: expect.any(Number) },
        { info: `Exporting file to 'output.${extension}'`, duration: expect.any(Number) },
        { info: "done", duration: expect.any(Number) },
      ]);
    }
    const [glb, gltf, obj, stl, ply] = jobs.map(([, job]) => job) as Record<string, unknown>[];
    // Welded: the 8 corners (the OBJ has no normals), 12 triangles.
    expect(await readGltf(outputPath(glb!, "output.glb"))).toMatchObject({
      vertices: 8,
      triangles: 12,
      bounds: CUBE_BOUNDS,
    });
    expect(await outputs(gltf!)).toEqual(["output.bin", "output.gltf"]);
    expect(await readGltf(outputPath(gltf!, "output.gltf"))).toMatchObject({
      vertices: 8,
      triangles: 12,
      bounds: CUBE_BOUNDS,
    });
    expect(await outputs(obj!)).toEqual(["output.mtl", "output.obj"]);
    expect(readObj(readFileSync(outputPath(obj!, "output.obj"), "utf8"))).toEqual({
      vertices: 8,
      triangles: 12,
      bounds: CUBE_BOUNDS,
    });
    expect(readStl(readFileSync(outputPath(stl!, "output.stl")))).toEqual({
      vertices: 36,
      triangles: 12,
      bounds: CUBE_BOUNDS,
    });
    expect(readPly(readFileSync(outputPath(ply!, "output.ply")))).toMatchObject({
      vertices: 8,
      triangles: 12,
      bounds: CUBE_BOUNDS,
    });
  });

  test("a STEP box, tessellated in millimetres: 6 faces of 2 triangles, each face its own normals", async () => {
    const [glb, stl] = await Promise.all([
      run("convert_file", box()),
      run("convert_file", box(), { extension: "STL" }),
    ]);
    expect(glb).toMatchObject({ status: "SUCCESS", result: { output: "output.glb" } });
    // No extension asked: glb, and the step says why (the original's pxz cannot be written).
    expect((glb.steps as { info: string }[])[1]!.info).toBe(
      "Exporting file to 'output.glb' (glb: no extension asked, and pxz, the original's default, cannot be written)",
    );
    expect(await readGltf(outputPath(glb, "output.glb"))).toMatchObject({
      vertices: 24,
      triangles: 12,
      bounds: BOX_BOUNDS,
      nodes: 1,
    });
    expect(readStl(readFileSync(outputPath(stl, "output.stl")))).toMatchObject({
      triangles: 12,
      bounds: BOX_BOUNDS,
    });
  });

  test("a STEP assembly shipped with occt-import-js keeps its parts and colors", async () => {
    const file = new File([readFileSync(join(OCCT_DIR, "cax-if/as1-oc-214.stp"))], "as1-oc-214.stp");
    const job = await run("convert_file", file, { extension: "glb" });
    expect(job.status).toBe("SUCCESS");
    const glb = await readGltf(outputPath(job, "output.glb"));
    expect(glb.materials).toBe(5);
    expect(glb.triangles).toBeGreaterThan(1000);
    expect(glb.bounds.max[0]! - glb.bounds.min[0]!).toBeGreaterThan(100);
  });
});

const OCCT_DIR = join(import.meta.dir, "../node_modules/occt-import-js/test/testfiles");

/**
 * CAx-IF's "s1" model as shipped by occt-import-js: an assembly (s1-c5-214.stp, in inches) whose
 * parts are other STEP files, two of them assemblies of parts again (HEAD, FOOT, placed twice).
 */
function assemblyZip(leaveOut: string | null = null): File {
  const folder = join(OCCT_DIR, "cax-if/s1-c5-214");
  const entries: Record<string, Uint8Array> = {};
  for (const name of readdirSync(folder)) {
    if (name.endsWith(".stp") && name !== leaveOut) entries[`s1/${name}`] = readFileSync(join(folder, name));
  }
  return new File([zipSync(entries, { level: 1 })], "s1.zip");
}

describe("an assembly archive: a STEP assembly and its part files", () => {
  test("the assembly, named in params.filename, is converted with every part in place", async () => {
    const [glbJob, missing] = await Promise.all([
      run("convert_file", assemblyZip(), { extension: "glb", filename: "s1-c5-214.stp" }),
      run("convert_file", assemblyZip("HEAD_BACK.stp"), { filename: "s1-c5-214.stp" }),
    ]);
    expect(glbJob).toMatchObject({
      status: "SUCCESS",
      root_file: "s1/s1-c5-214.stp",
      result: { output: "output.glb" },
    });
    const glb = await readGltf(outputPath(glbJob, "output.glb"));
    // TAIL (x from -199 mm) to HEAD (placed at -1.89 inch, its parts up to 310 mm: 262 mm); FOOT
    // (y within 10 mm of its axis) twice, 1.4365 inch either side.
    expect(glb.bounds.min[0]).toBeCloseTo(-199, 0);
    expect(glb.bounds.max[0]).toBeCloseTo(262, 0);
    expect(glb.bounds.max[1]).toBeCloseTo(74, 0);
    expect(glb.bounds.min[2]).toBeCloseTo(-83.7, 0);
    // 11 parts: 3 of the tail, 2 of the head, 2 of the main body, 2 x 2 of the feet.
    expect(glb.instances).toBe(11);
    expect(missing.status).toBe("FAILURE");
    expect(headline(missing)).toBe(
      "ModelError: 'HEAD.stp' refers to the part 'HEAD_BACK.stp', which was not uploaded: send the assembly and its parts in one archive (.zip, .tar, .tar.gz) and name the assembly in params.filename or config.root_file",
    );
  });
});

describe("generate_metadata", () => {
  test("exact values for the STEP box and the OBJ cube, in metadata.json too", async () => {
    const [boxJob, cubeJob] = await Promise.all([
      run("generate_metadata", box()),
      run("generate_metadata", cube()),
    ]);
    const boxMetadata = {
      aabb: "113.57816691600547", // str(math.sqrt(100**2 + 50**2 + 20**2)) in Python
      part_count: 1,
      material_count: 0,
      brep_boundary: 0,
      brep_body_count: 1,
      mesh_boundary: 0,
      mesh_edge_count: 18,
      mesh_vertex_count: 8,
      polygon_count: 12,
      animation_count: 0,
      variant_count: 0,
      pmi_component_count: 0,
      annotation_group_count: 0,
      annotation_count: 0,
      metadata_component_count: 0,
      metadata_property_count: 0,
    };
    expect(boxJob).toMatchObject({ status: "SUCCESS", result: { metadata: boxMetadata } });
    // The original's key order.
    expect(Object.keys((boxJob.result as { metadata: object }).metadata)).toEqual(Object.keys(boxMetadata));
    expect(JSON.parse(readFileSync(outputPath(boxJob, "metadata.json"), "utf8"))).toEqual(boxMetadata);
    expect((boxJob.steps as { info: string }[]).map((s) => s.info)).toEqual([
      "Importing file 'box.step'",
      "Generating metadata",
      "Export 'metadata.json'",
    ]);
    // A mesh format has no B-rep: those counts are 0. assimp's stand-in material is not counted.
    expect(cubeJob).toMatchObject({
      status: "SUCCESS",
      result: {
        metadata: {
          ...boxMetadata,
          aabb: "3.4641016151377544", // str(math.sqrt(12))
          brep_body_count: 0,
        },
      },
    });
  });

  test("an open mesh: its boundary edges and, for CAD, its open boundaries", async () => {
    // The cube without its top face: 4 boundary edges forming 1 loop.
    const open = OBJ_CUBE.replace("f 5 6 7 8\n", "");
    const job = await run("generate_metadata", new File([open], "open.obj"));
    expect(job).toMatchObject({
      status: "SUCCESS",
      result: { metadata: { mesh_boundary: 4, mesh_edge_count: 17, polygon_count: 10, brep_boundary: 0 } },
    });
  });
});

/** A glTF that requires Draco compression (its one triangle's data is never read). */
const DRACO_GLTF = {
  asset: { version: "2.0" },
  extensionsUsed: ["KHR_draco_mesh_compression"],
  extensionsRequired: ["KHR_draco_mesh_compression"],
  buffers: [{ byteLength: 4, uri: "data:application/octet-stream;base64,AAAAAA==" }],
  bufferViews: [{ buffer: 0, byteLength: 4 }],
  accessors: [{ componentType: 5126, count: 3, type: "VEC3", min: [0, 0, 0], max: [1, 1, 1] }],
  meshes: [
    {
      primitives: [
        {
          attributes: { POSITION: 0 },
          extensions: { KHR_draco_mesh_compression: { bufferView: 0, attributes: { POSITION: 0 } } },
        },
      ],
    },
  ],
  nodes: [{ mesh: 0 }],
  scenes: [{ nodes: [0] }],
  scene: 0,
};

describe("bad inputs fail with a clear error", () => {
  test("corrupt, unsupported, missing or unwritable", async () => {
    const [corruptObj, corruptFbx, corruptGlb, draco, corruptStep, unsupported, none, pxz, badExtension] =
      await Promise.all([
        run("generate_metadata", new File(["this is not a model\n\u0000\u0001"], "broken.obj")),
        run("generate_metadata", new File([new Uint8Array(300).fill(7)], "broken.fbx")),
        run("generate_thumbnails", new File(["glTF but not really"], "broken.glb")),
        run("convert_file", new File([JSON.stringify(DRACO_GLTF)], "draco.gltf")),
        run("convert_file", new File(["ISO-10303-21;\nHEADER;\ngarbage"], "broken.step")),
        run("convert_file", new File(["solid"], "model.xyz")),
        (async () => {
          const res = await d.submit({ process: "generate_metadata" });
          const { uuid } = (await res.json()) as { uuid: string };
          return d.waitFor(uuid);
        })(),
        run("convert_file", cube(), { extension: "pxz" }),
        run("convert_file", cube(), { extension: "usdz" }),
      ]);
    for (const job of [
      corruptObj,
      corruptFbx,
      corruptGlb,
      draco,
      corruptStep,
      unsupported,
      none,
      pxz,
      badExtension,
    ]) {
      expect(job.status).toBe("FAILURE");
    }
    // assimp reads any text as OBJ (unknown lines are skipped): nothing came out of it.
    expect(headline(corruptObj)).toStartWith(
      "ModelError: 'broken.obj' holds no triangles once read as OBJ: it is empty, damaged or not OBJ",
    );
    expect(headline(corruptFbx)).toStartWith(
      "ModelError: Cannot read 'broken.fbx' as FBX: assimp reports 'import_error'",
    );
    expect(headline(corruptGlb)).toStartWith("ModelError: Cannot read 'broken.glb' as GLB: ");
    expect(headline(draco)).toBe(
      "ModelError: Cannot read 'draco.gltf' as GLTF: Missing required extension, \"KHR_draco_mesh_compression\".",
    );
    expect(headline(corruptStep)).toStartWith(
      "ModelError: Cannot read 'broken.step' as STEP: OpenCascade rejects it",
    );
    expect(headline(unsupported)).toStartWith(
      "ModelError: Cannot read 'model.xyz': the .xyz format is not supported. Readable formats: step, stp,",
    );
    expect(headline(none)).toBe("Error: generate_metadata needs an input: send the model as 'file'");
    expect(headline(pxz)).toBe(
      "ModelError: params.extension 'pxz' cannot be written: it is the Pixyz SDK's own format. Choose one of glb, gltf, obj, stl, ply",
    );
    expect(headline(badExtension)).toBe(
      "ModelError: params.extension 'usdz' is not supported: choose one of glb, gltf, obj, stl, ply",
    );
  });
});
