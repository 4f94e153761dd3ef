// The rendering half of a thumbnail job, shared by generate_thumbnails and thumbnail_chained's
// render step: the original's steps from "Creating viewer" to "Export 'metadata.json'", on a model
// already read. Writes the four PNGs, preview.glb and metadata.json into `folder`.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Ctx } from "../sdk/types.ts";
import { writeModel } from "./export.ts";
import { flatten } from "./flatten.ts";
import { type Metadata, metadataOf } from "./metadata.ts";
import type { Model } from "./model.ts";
import { combineMaterials, decimateTo } from "./preview.ts";
import { frameViews, type Thumbs, writeThumbnails } from "./thumbnails.ts";

export interface RenderSetOptions {
  width: number;
  height: number;
  /** preview.glb's triangle budget. */
  budget: number;
  /** The metadata when it was counted earlier (B-rep counts do not survive a trip through glb). */
  metadata?: Metadata;
}

export async function renderSet(
  ctx: Pick<Ctx, "progress" | "log">,
  model: Model,
  folder: string,
  options: RenderSetOptions,
): Promise<{ thumbs: Thumbs; metadata: Metadata }> {
  const { width, height, budget } = options;
  // The renderer's scene: every mesh instance as triangles in world coordinates (copies, so the
  // decimation below leaves them, and the metadata taken from them, as imported).
  ctx.progress.next("Creating viewer");
  const parts = flatten(model.doc);
  ctx.progress.next("Creating GPUScene");
  const framings = frameViews(parts, width, height);
  ctx.progress.next("Screenshotting");
  const thumbs = writeThumbnails(parts, framings, folder, width, height);
  ctx.progress.next("Combine Material");
  await combineMaterials(model.doc);
  ctx.progress.next("DecimateTarget");
  const triangles = await decimateTo(model.doc, budget);
  ctx.log(`preview: ${triangles.before} triangles, ${triangles.after} after decimation (budget ${budget})`);
  ctx.progress.next("Exporting model preview to preview.glb");
  await writeModel(model.doc, "glb", folder, "preview");
  ctx.progress.next("Generating metadata");
  const metadata = options.metadata ?? metadataOf(model, parts);
  ctx.progress.next("Export 'metadata.json'");
  writeFileSync(join(folder, "metadata.json"), `${JSON.stringify(metadata, null, 2)}\n`);
  return { thumbs, metadata };
}
