// What the built-in 3D processes import, as "./lib/three-d.js". The code lives in src/three-d/;
// `bun run gen` (scripts/gen-processes.ts) bundles this file with its libraries into one
// self-contained lib/three-d.js, which the daemon writes beside the processes at start with the
// wasm files of assimpjs and occt-import-js. From a checkout, Bun resolves the .js name to this file.
export { ModelError } from "../../src/three-d/errors.ts";
export { writeModel } from "../../src/three-d/export.ts";
export { boundsOf, diagonalOf, flatten, type Part, triangleCount } from "../../src/three-d/flatten.ts";
export { exportFormat, readableFormats } from "../../src/three-d/formats.ts";
export { importModel } from "../../src/three-d/import.ts";
export { type Metadata, metadataOf } from "../../src/three-d/metadata.ts";
export type { Model } from "../../src/three-d/model.ts";
export { TESSELLATION } from "../../src/three-d/occt.ts";
export { combineMaterials, decimateTo, PREVIEW_TRIANGLES } from "../../src/three-d/preview.ts";
export { renderSet } from "../../src/three-d/render-set.ts";
export { repairMesh } from "../../src/three-d/repair.ts";
export {
  type Framing,
  frameViews,
  THUMBNAIL_SIZE,
  type Thumbs,
  thumbnailSize,
  writeThumbnails,
} from "../../src/three-d/thumbnails.ts";
