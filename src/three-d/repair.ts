// "Repairing Mesh": vertices identical in every attribute become one (gltf-transform's weld), so
// the meshes are indexed and shared edges are shared vertices.
import type { Document } from "@gltf-transform/core";
import { weld } from "@gltf-transform/functions";

export async function repairMesh(doc: Document): Promise<void> {
  await doc.transform(weld());
}
