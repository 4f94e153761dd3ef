// The preview model of generate_thumbnails: identical materials merged ("Combine Material"), then
// decimated to a triangle budget ("DecimateTarget") with meshoptimizer's simplifier.
import { type Document, PropertyType } from "@gltf-transform/core";
import { dedup, prune, simplify, weld } from "@gltf-transform/functions";
import { MeshoptSimplifier } from "meshoptimizer";
import { triangleCount } from "./flatten.ts";

/** The original's DecimateTarget budget. */
export const PREVIEW_TRIANGLES = 500_000;

/** Merges materials that are equal in every property; returns how many are left. */
export async function combineMaterials(doc: Document): Promise<number> {
  await doc.transform(dedup({ propertyTypes: [PropertyType.MATERIAL] }));
  return doc.getRoot().listMaterials().length;
}

/**
 * Simplifies every mesh by the same ratio so the whole comes near `target` triangles (normals are
 * dropped first, so vertices split only for shading weld together; viewers recompute them).
 * Nothing happens at or under the budget. Returns the triangle counts before and after.
 */
export async function decimateTo(doc: Document, target: number): Promise<{ before: number; after: number }> {
  const before = triangleCount(doc);
  if (before <= target) return { before, after: before };
  for (const mesh of doc.getRoot().listMeshes()) {
    for (const primitive of mesh.listPrimitives()) {
      primitive.setAttribute("NORMAL", null);
      primitive.setAttribute("TANGENT", null);
    }
  }
  await MeshoptSimplifier.ready;
  await doc.transform(
    weld(),
    simplify({ simplifier: MeshoptSimplifier, ratio: target / before, error: 1 }),
    prune(),
  );
  return { before, after: triangleCount(doc) };
}
