import { writeFileSync } from "node:fs";
import { basename } from "node:path";
import type { Ctx } from "pixyz-scheduler/sdk";
import { flatten, importModel, metadataOf } from "./lib/three-d.js";

export const schedule = { queue: "cpu" };

/**
 * Generate metadata for a model. Outputs a metadata.json file with the model's counts.
 *
 * Input: one 3D or CAD file (the formats of convert_file), or an archive's root file.
 *
 * Params: none.
 *
 * Steps: "Importing file '<name>'", "Generating metadata", "Export 'metadata.json'".
 *
 * Result: `{"metadata": {...}}` with the 16 keys, also written to metadata.json: `aabb` (the
 * bounding box's diagonal as a string), part_count, material_count, brep_boundary,
 * brep_body_count, mesh_boundary, mesh_edge_count, mesh_vertex_count, polygon_count,
 * animation_count, variant_count, pmi_component_count, annotation_group_count, annotation_count,
 * metadata_component_count, metadata_property_count. Mesh counts are taken on the welded mesh;
 * B-rep counts only for STEP, IGES and BREP; keys a format cannot carry are 0.
 */
export async function main(ctx: Ctx) {
  const input = ctx.inputFile();
  if (input === null) throw new Error("generate_metadata needs an input: send the model as 'file'");
  ctx.progress.total(3);
  ctx.progress.next(`Importing file '${basename(input)}'`);
  const model = await importModel(input);
  ctx.progress.next("Generating metadata");
  const metadata = metadataOf(model, flatten(model.doc));
  ctx.progress.next("Export 'metadata.json'");
  writeFileSync(ctx.outputDir("metadata.json"), `${JSON.stringify(metadata, null, 2)}\n`);
  return { metadata };
}
