import { basename } from "node:path";
import type { Ctx } from "pixyz-scheduler/sdk";
import { exportFormat, importModel, repairMesh, writeModel } from "./lib/three-d.js";

export const schedule = { queue: "cpu" };

/**
 * Convert a 3D or CAD file to glb, gltf, obj, stl or ply.
 *
 * Input: one file, or an archive whose root file is converted. Read: STEP/STP, IGES/IGS, BREP
 * (OpenCascade; tessellated with a tolerance of 0.1% of the model's size), glTF/GLB, and OBJ, STL,
 * PLY, FBX, DAE, 3DS and the other formats assimp reads. CAD stays in millimetres. Vertices
 * identical in every attribute are merged; nothing else is changed.
 *
 * Params:
 * - `extension` (string, default "glb"): glb, gltf (writes output.bin and textures beside it), obj
 *   (with output.mtl), stl (binary) or ply (binary, vertex colors). The original's default, pxz, is
 *   the Pixyz SDK's own format and cannot be written: a job that asks for it fails.
 * - `filename` (string, optional): which file of an uploaded archive to convert (read by the
 *   daemon's root file rule when the job is submitted).
 *
 * Steps: "Importing file '<name>'", "Exporting file to 'output.<ext>'", "done".
 *
 * Result: `{"output": "output.<ext>"}`.
 */
export async function main(ctx: Ctx, params: { extension?: unknown; filename?: unknown } | null) {
  const { format, defaulted } = exportFormat(params?.extension);
  // For an archive, the daemon chose the root file already, params.filename first.
  const input = ctx.inputFile();
  if (input === null) throw new Error("convert_file needs an input: send the model as 'file'");
  ctx.progress.total(3);
  ctx.progress.next(`Importing file '${basename(input)}'`);
  const model = await importModel(input);
  const output = `output.${format}`;
  ctx.progress.next(
    defaulted
      ? `Exporting file to '${output}' (glb: no extension asked, and pxz, the original's default, cannot be written)`
      : `Exporting file to '${output}'`,
  );
  // Vertices identical in every attribute become one (lossless): indexed, compact output.
  await repairMesh(model.doc);
  const written = await writeModel(model.doc, format, ctx.outputDir());
  ctx.log(`wrote ${written.join(", ")}`);
  ctx.progress.next("done");
  return { output };
}
