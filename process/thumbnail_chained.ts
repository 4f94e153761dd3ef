import { existsSync } from "node:fs";
import { basename, isAbsolute, join, relative } from "node:path";
import type { Ctx } from "pixyz-scheduler/sdk";
import {
  flatten,
  importModel,
  type Metadata,
  metadataOf,
  PREVIEW_TRIANGLES,
  renderSet,
  repairMesh,
  thumbnailSize,
  writeModel,
} from "./lib/three-d.js";

// The parent only waits on its children: a control slot, as the original's `wait=True`.
export const schedule = { queue: "control", timeLimit: 3600 };

/** What the steps hand each other, as the original's chained params. */
interface Chained {
  /** The input, relative to the job's inputs folder. */
  filepath?: string;
  /** Where every step writes: the parent's outputs folder (absolute). */
  output_dir?: string;
  width?: number;
  height?: number;
  /** The imported and tessellated model the render step reads (the original's export.pxz). */
  pxz?: string;
  metadata?: Metadata;
  [key: string]: unknown;
}

/** The folder a step writes to: the parent's outputs when it passed them, else the job's own. */
function outputFolder(ctx: Ctx, params: Chained): string {
  const folder = params.output_dir;
  if (folder === undefined) return ctx.outputDir();
  if (typeof folder !== "string" || !isAbsolute(folder))
    throw new Error("params.output_dir must be an absolute path");
  if (!existsSync(folder)) {
    throw new Error(
      "The parent job's outputs folder cannot be reached from this job (with JOB_SANDBOX=bwrap a job sees only its own folder): run generate_thumbnails instead",
    );
  }
  return folder;
}

/**
 * Thumbnails as a workflow of child jobs (DAG version): a CPU task imports and tessellates the
 * model, then a GPU task renders the screenshots, the preview and the metadata; this job joins.
 *
 * Input: one 3D or CAD file (the formats of convert_file), or an archive's root file.
 *
 * Params: `width`, `height` (16 to 2048, default 512 each; the original always used 512).
 *
 * Children: "prepare" on queue cpu (import, repair, tessellate, write export.glb), then "render" on
 * queue gpu (run on a cpu slot where the daemon has no GPU and GPU_FALLBACK=cpu, the default).
 * Both write into this job's outputs: export.glb, iso.png, x.png, y.png, z.png, preview.glb,
 * metadata.json. This job runs on the control queue and holds no compute slot while it waits.
 *
 * Steps: "Import and tessellate on cpu", "Render on gpu", "Join".
 *
 * Result (the original's merged params): `{"filepath", "output_dir": "outputs", "width",
 * "height", "pxz": "export.glb", "preview": {"file": "preview.glb", "size": "WxH"},
 * "metadata": {...}, "thumbs": {"iso": "iso.png", ...}, "process_duration": <seconds>}`.
 */
export async function main(ctx: Ctx, params: { width?: unknown; height?: unknown } | null) {
  const started = performance.now();
  const { width, height } = thumbnailSize(params);
  const input = ctx.inputFile();
  if (input === null) throw new Error("thumbnail_chained needs an input: send the model as 'file'");
  const chained: Chained = {
    filepath: relative(ctx.inputDir(), input),
    output_dir: ctx.outputDir(),
    width,
    height,
  };
  ctx.progress.total(3);

  ctx.progress.next("Import and tessellate on cpu");
  const prepare = await ctx.spawn({ entrypoint: "prepare", queue: "cpu", name: "prepare", params: chained });
  const prepared = (await prepare.result()) as Chained;

  ctx.progress.next("Render on gpu");
  const render = await ctx.spawn({ entrypoint: "render", queue: "gpu", name: "render", params: prepared });
  const rendered = (await render.result()) as Chained;

  ctx.progress.next("Join");
  return {
    ...rendered,
    output_dir: "outputs",
    process_duration: (performance.now() - started) / 1000,
  };
}

/** The CPU step: import, repair, tessellate, then export.glb and metadata.json for the render step. */
export async function prepare(ctx: Ctx, params: Chained) {
  const folder = outputFolder(ctx, params);
  const input = typeof params.filepath === "string" ? ctx.inputFile(params.filepath) : ctx.inputFile();
  if (input === null) throw new Error("prepare needs an input");
  ctx.progress.total(5);
  ctx.progress.next(`Importing file '${basename(input)}'`);
  const model = await importModel(input);
  ctx.progress.next("Repairing CAD");
  ctx.progress.next("Repairing Mesh");
  await repairMesh(model.doc);
  ctx.progress.next("tessellateRelativelyToAABB");
  // Counted here, on the model as read: B-rep counts do not survive the trip through glb.
  const metadata = metadataOf(model, flatten(model.doc));
  ctx.progress.next("Exporting 'export.glb'");
  await writeModel(model.doc, "glb", folder, "export");
  return { ...params, pxz: "export.glb", metadata };
}

/** The GPU step: the four screenshots, preview.glb and metadata.json from export.glb. */
export async function render(ctx: Ctx, params: Chained) {
  const started = performance.now();
  const folder = outputFolder(ctx, params);
  const { width, height } = thumbnailSize(params);
  if (typeof params.pxz !== "string" || params.pxz.includes("/"))
    throw new Error("params.pxz must name a file");
  ctx.progress.total(9);
  ctx.progress.next(`Importing file '${params.pxz}'`);
  const model = await importModel(join(folder, params.pxz));
  const { thumbs, metadata } = await renderSet(ctx, model, folder, {
    width,
    height,
    budget: PREVIEW_TRIANGLES,
    metadata: params.metadata,
  });
  return {
    ...params,
    preview: { file: "preview.glb", size: `${width}x${height}` },
    metadata,
    thumbs,
    process_duration: (performance.now() - started) / 1000,
  };
}
