// Any supported input file into a Model: CAD through OCCT (a STEP assembly whose parts are other
// files through step-assembly.ts), glTF/glb directly, other mesh formats through assimp. Files an input refers to (an OBJ's .mtl, a glTF's .bin, textures) are taken from
// its folder, which for an uploaded archive is where it was extracted.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import type { Document, Material } from "@gltf-transform/core";
import type { KHRMaterialsVariants } from "@gltf-transform/extensions";
import { assimpToGlb, type NamedBytes } from "./assimp.ts";
import { cadDocument } from "./cad-document.ts";
import { ModelError } from "./errors.ts";
import { triangleCount } from "./flatten.ts";
import { extensionOf, readerFor } from "./formats.ts";
import { gltfIO } from "./gltf-io.ts";
import type { Model, ModelFacts } from "./model.ts";
import { readCad } from "./occt.ts";
import { mayHaveExternalParts, readStepAssembly } from "./step-assembly.ts";

/** Files a mesh format may refer to: materials, buffers, images. */
const COMPANIONS = new Set([
  "mtl",
  "bin",
  "png",
  "jpg",
  "jpeg",
  "tga",
  "bmp",
  "dds",
  "tif",
  "tiff",
  "gif",
  "webp",
  "ktx2",
]);

/** The companion files under the input's folder, named relative to it (as the input refers to them). */
function companionsOf(path: string): NamedBytes[] {
  const folder = dirname(path);
  const found: NamedBytes[] = [];
  const walk = (dir: string, depth: number) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory() && depth < 4) walk(full, depth + 1);
      else if (entry.isFile() && full !== path && COMPANIONS.has(extensionOf(entry.name))) {
        found.push({ name: relative(folder, full), bytes: readFileSync(full) });
      }
    }
  };
  walk(folder, 0);
  return found;
}

/** The name assimp gives the material it makes up for geometry that has none. */
const ASSIMP_DEFAULT_MATERIAL = "DefaultMaterial";

function factsOf(doc: Document, standIns: ReadonlySet<Material>): ModelFacts {
  const root = doc.getRoot();
  const used = new Set<Material>();
  for (const mesh of root.listMeshes()) {
    for (const primitive of mesh.listPrimitives()) {
      const material = primitive.getMaterial();
      if (material && !standIns.has(material)) used.add(material);
    }
  }
  const variants = root.listExtensionsUsed().find((e) => e.extensionName === "KHR_materials_variants") as
    | KHRMaterialsVariants
    | undefined;
  let metadataComponents = 0;
  let metadataProperties = 0;
  for (const property of [...root.listNodes(), ...root.listMeshes(), ...root.listMaterials()]) {
    const keys = Object.keys(property.getExtras() ?? {}).length;
    if (keys > 0) {
      metadataComponents++;
      metadataProperties += keys;
    }
  }
  return {
    materials: used.size,
    animations: root.listAnimations().length,
    variants: variants?.listVariants().length ?? 0,
    metadataComponents,
    metadataProperties,
  };
}

export async function importModel(path: string): Promise<Model> {
  const name = basename(path);
  const { reader, format, cad } = readerFor(path);
  if (!statSync(path, { throwIfNoEntry: false })?.isFile())
    throw new ModelError(`The input '${name}' is not a file`);
  let doc: Document;
  const standIns = new Set<Material>();
  if (reader === "occt") {
    const bytes = readFileSync(path);
    doc =
      cad === "step" && mayHaveExternalParts(bytes)
        ? await readStepAssembly(path)
        : cadDocument(await readCad(name, bytes, cad!), name);
  } else if (reader === "gltf") {
    try {
      doc = await (await gltfIO()).read(path);
    } catch (error) {
      throw new ModelError(
        `Cannot read '${name}' as ${format.toUpperCase()}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  } else {
    const glb = await assimpToGlb({ name, bytes: readFileSync(path) }, companionsOf(path), format);
    doc = await (await gltfIO()).readBinary(glb);
    for (const material of doc.getRoot().listMaterials()) {
      if (material.getName() === ASSIMP_DEFAULT_MATERIAL) standIns.add(material);
    }
  }
  if (triangleCount(doc) === 0) {
    throw new ModelError(
      `'${name}' holds no triangles once read as ${format.toUpperCase()}: it is empty, damaged or not ${format.toUpperCase()}`,
    );
  }
  return { name, format, reader, doc, brep: reader === "occt", facts: factsOf(doc, standIns) };
}
