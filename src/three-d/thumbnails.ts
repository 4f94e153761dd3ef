// The four thumbnails (iso, x, y, z) of a model's triangles as PNG files, and the size rules.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ModelError } from "./errors.ts";
import { boundsOf, type Part } from "./flatten.ts";
import { encodePng } from "./png.ts";
import { render } from "./raster.ts";
import { type Camera, fitCamera, VIEWS, type View } from "./views.ts";

export const THUMBNAIL_SIZE = { default: 512, min: 16, max: 2048 } as const;

function side(value: unknown, name: string): number {
  if (value === undefined || value === null) return THUMBNAIL_SIZE.default;
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < THUMBNAIL_SIZE.min || n > THUMBNAIL_SIZE.max) {
    throw new ModelError(
      `params.${name} must be a whole number of pixels from ${THUMBNAIL_SIZE.min} to ${THUMBNAIL_SIZE.max}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** `width` and `height` from the params (default 512 each, 16 to 2048). */
export function thumbnailSize(params: { width?: unknown; height?: unknown } | null | undefined): {
  width: number;
  height: number;
} {
  return { width: side(params?.width, "width"), height: side(params?.height, "height") };
}

export type Thumbs = Record<View["name"], string>;

export interface Framing {
  view: View;
  camera: Camera;
}

/** A camera per view, each framing the whole model in an image of this size. */
export function frameViews(parts: readonly Part[], width: number, height: number): Framing[] {
  const box = boundsOf(parts);
  return VIEWS.map((view) => ({ view, camera: fitCamera(view, box, width / height) }));
}

/** Renders each view into `<folder>/<view>.png`; returns the file names by view. */
export function writeThumbnails(
  parts: readonly Part[],
  framings: readonly Framing[],
  folder: string,
  width: number,
  height: number,
): Thumbs {
  const thumbs = {} as Thumbs;
  for (const { view, camera } of framings) {
    const file = `${view.name}.png`;
    writeFileSync(join(folder, file), encodePng(width, height, render(parts, camera, width, height)));
    thumbs[view.name] = file;
  }
  return thumbs;
}
