import { basename } from "node:path";
import type { Ctx } from "pixyz-scheduler/sdk";
import {
  importModel,
  PREVIEW_TRIANGLES,
  renderSet,
  repairMesh,
  TESSELLATION,
  thumbnailSize,
} from "./lib/three-d.js";

export const schedule = { queue: "gpu" };

/**
 * Generate png thumbnails [iso,x,y,z], preview.glb and metadata.json for a model.
 *
 * Input: one 3D or CAD file (the formats of convert_file), or an archive's root file.
 *
 * Params:
 * - `width`, `height` (whole pixels, 16 to 2048, default 512 each): the thumbnails' size.
 * - `preview_triangles` (whole number, default 500000): the triangle budget of preview.glb.
 *
 * The thumbnails are drawn by a CPU renderer (z-buffer, one shade per triangle, anti-aliased) on a
 * transparent background, from the original's four directions: iso (-0.5,-0.5,-1) with a 70 degree
 * field of view, x (0,0,-1), y (-1,0,0) and z (0,-1,0) with 90 degrees. It runs on the gpu queue,
 * as the original, and needs no GPU.
 *
 * Steps (the original's 12): "Importing file '<name>'", "Repairing CAD", "Repairing Mesh",
 * "tessellateRelativelyToAABB", "Creating viewer", "Creating GPUScene", "Screenshotting",
 * "Combine Material", "DecimateTarget", "Exporting model preview to preview.glb",
 * "Generating metadata", "Export 'metadata.json'".
 *
 * Result: `{"thumbs": {"iso": "iso.png", "x": "x.png", "y": "y.png", "z": "z.png"},
 * "preview": {"file": "preview.glb", "size": "<width>x<height>"}, "metadata": {...},
 * "process_duration": <seconds>}` (metadata as generate_metadata's).
 */
export async function main(
  ctx: Ctx,
  params: { width?: unknown; height?: unknown; preview_triangles?: unknown } | null,
) {
  const started = performance.now();
  const { width, height } = thumbnailSize(params);
  const budget = params?.preview_triangles ?? PREVIEW_TRIANGLES;
  if (typeof budget !== "number" || !Number.isInteger(budget) || budget < 1) {
    throw new Error(`params.preview_triangles must be a whole number above 0, got ${JSON.stringify(budget)}`);
  }
  const input = ctx.inputFile();
  if (input === null) throw new Error("generate_thumbnails needs an input: send the model as 'file'");
  const out = ctx.outputDir();
  ctx.progress.total(12);

  ctx.progress.next(`Importing file '${basename(input)}'`);
  const model = await importModel(input);
  // OpenCascade heals the B-rep and tessellates it while it reads (above); these two steps keep the
  // original's list and say what was done.
  ctx.progress.next("Repairing CAD");
  if (model.brep) ctx.log("CAD: the B-rep was checked and healed by OpenCascade while it was read");
  ctx.progress.next("Repairing Mesh");
  await repairMesh(model.doc);
  ctx.progress.next("tessellateRelativelyToAABB");
  if (model.brep) {
    ctx.log(
      `CAD: tessellated with a chordal tolerance of ${TESSELLATION.linearDeflection * 100}% of the model's size and ${TESSELLATION.angularDeflection} rad`,
    );
  }
  const { thumbs, metadata } = await renderSet(ctx, model, out, { width, height, budget });
  return {
    thumbs,
    preview: { file: "preview.glb", size: `${width}x${height}` },
    metadata,
    process_duration: (performance.now() - started) / 1000,
  };
}
