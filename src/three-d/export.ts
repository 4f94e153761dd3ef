// Writes a model in one of convert_file's formats: glb and glTF from the document itself (nodes,
// materials, textures, animations kept), OBJ/STL/PLY from its world-space triangles.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Document } from "@gltf-transform/core";
import { flatten } from "./flatten.ts";
import type { ExportFormat } from "./formats.ts";
import { gltfIO } from "./gltf-io.ts";
import { toObj, toPly, toStl } from "./mesh-writers.ts";

/** A glb holds one buffer: every accessor moves to the first, the others go. */
function singleBuffer(doc: Document): void {
  const [first, ...others] = doc.getRoot().listBuffers();
  if (!first) return;
  for (const accessor of doc.getRoot().listAccessors()) accessor.setBuffer(first);
  for (const buffer of others) buffer.dispose();
}

/** Resource names of a .gltf, beside it and named after it, so nothing lands outside `folder`. */
function nameResources(doc: Document, base: string): void {
  const buffers = doc.getRoot().listBuffers();
  buffers.forEach((buffer, i) => {
    buffer.setURI(buffers.length === 1 ? `${base}.bin` : `${base}_${i}.bin`);
  });
  doc
    .getRoot()
    .listTextures()
    .forEach((texture, i) => {
      const extension =
        texture.getMimeType() === "image/jpeg" ? "jpg" : (texture.getMimeType().split("/")[1] ?? "png");
      texture.setURI(`${base}_texture_${i}.${extension}`);
    });
}

/** Writes `<base>.<format>` (and its companion files) into `folder`; returns the names written. */
export async function writeModel(
  doc: Document,
  format: ExportFormat,
  folder: string,
  base = "output",
): Promise<string[]> {
  const io = await gltfIO();
  const main = `${base}.${format}`;
  if (format === "glb") {
    singleBuffer(doc);
    writeFileSync(join(folder, main), await io.writeBinary(doc));
    return [main];
  }
  if (format === "gltf") {
    nameResources(doc, base);
    const { json, resources } = await io.writeJSON(doc);
    writeFileSync(join(folder, main), JSON.stringify(json, null, 2));
    for (const [name, bytes] of Object.entries(resources)) writeFileSync(join(folder, name), bytes);
    return [main, ...Object.keys(resources)];
  }
  const parts = flatten(doc);
  if (format === "obj") {
    const { obj, mtl } = toObj(parts, `${base}.mtl`);
    writeFileSync(join(folder, main), obj);
    writeFileSync(join(folder, `${base}.mtl`), mtl);
    return [main, `${base}.mtl`];
  }
  writeFileSync(join(folder, main), format === "stl" ? toStl(parts) : toPly(parts));
  return [main];
}
