// The scene as triangle lists in world coordinates (copies: changing the document later leaves them be): one Part per primitive of each node that has a
// mesh (a mesh used by two nodes gives two instances). Triangle strips and fans become lists;
// points and lines are left out (nothing here draws or counts them).
import type { Accessor, Document, Node, Primitive } from "@gltf-transform/core";

export interface Part {
  /** Which mesh instance (node) the part belongs to: its primitives share a number. */
  instance: number;
  name: string;
  /** x, y, z per vertex, world coordinates. */
  positions: Float32Array;
  /** Three vertex indices per triangle. */
  indices: Uint32Array;
  /** Linear RGBA base color of its material (a light grey without one). */
  color: [number, number, number, number];
}

export const DEFAULT_COLOR: [number, number, number, number] = [0.6, 0.62, 0.66, 1];

/** A copy of a VEC3 accessor's values as floats (never the accessor's own array, which may change). */
function floats(accessor: Accessor): Float32Array {
  const array = accessor.getArray();
  if (array instanceof Float32Array && !accessor.getNormalized() && accessor.getElementSize() === 3)
    return array.slice();
  const out = new Float32Array(accessor.getCount() * 3);
  const element = [0, 0, 0];
  for (let i = 0; i < accessor.getCount(); i++) {
    accessor.getElement(i, element);
    out[i * 3] = element[0]!;
    out[i * 3 + 1] = element[1]!;
    out[i * 3 + 2] = element[2]!;
  }
  return out;
}

/** Triangle list indices of a primitive, or null when it draws no triangles. */
function triangleIndices(primitive: Primitive, vertexCount: number): Uint32Array | null {
  const source = primitive.getIndices();
  const count = source ? source.getCount() : vertexCount;
  const at = source ? (i: number) => source.getScalar(i) : (i: number) => i;
  const mode = primitive.getMode();
  if (mode === 4) {
    const out = new Uint32Array(count - (count % 3));
    for (let i = 0; i < out.length; i++) out[i] = at(i);
    return out;
  }
  if (mode === 5 || mode === 6) {
    const triangles = Math.max(0, count - 2);
    const out = new Uint32Array(triangles * 3);
    for (let t = 0; t < triangles; t++) {
      if (mode === 5) {
        // Strips alternate their winding.
        out[t * 3] = at(t % 2 === 0 ? t : t + 1);
        out[t * 3 + 1] = at(t % 2 === 0 ? t + 1 : t);
        out[t * 3 + 2] = at(t + 2);
      } else {
        out[t * 3] = at(0);
        out[t * 3 + 1] = at(t + 1);
        out[t * 3 + 2] = at(t + 2);
      }
    }
    return out;
  }
  return null;
}

/** Applies a node's world matrix in place. */
function transform(positions: Float32Array, m: ArrayLike<number>): Float32Array {
  const identity =
    [0, 5, 10, 15].every((i) => m[i] === 1) &&
    [1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14].every((i) => m[i] === 0);
  if (identity) return positions;
  const out = positions;
  for (let i = 0; i < positions.length; i += 3) {
    const x = positions[i]!;
    const y = positions[i + 1]!;
    const z = positions[i + 2]!;
    out[i] = m[0]! * x + m[4]! * y + m[8]! * z + m[12]!;
    out[i + 1] = m[1]! * x + m[5]! * y + m[9]! * z + m[13]!;
    out[i + 2] = m[2]! * x + m[6]! * y + m[10]! * z + m[14]!;
  }
  return out;
}

/** Every mesh instance of the default scene (or of all scenes when none is marked default). */
export function flatten(doc: Document): Part[] {
  const root = doc.getRoot();
  const scenes = root.getDefaultScene() ? [root.getDefaultScene()!] : root.listScenes();
  const parts: Part[] = [];
  let instance = 0;
  const visit = (node: Node) => {
    const mesh = node.getMesh();
    if (mesh) {
      const matrix = node.getWorldMatrix();
      let any = false;
      for (const primitive of mesh.listPrimitives()) {
        const position = primitive.getAttribute("POSITION");
        if (!position) continue;
        const indices = triangleIndices(primitive, position.getCount());
        if (!indices || indices.length === 0) continue;
        const factor = primitive.getMaterial()?.getBaseColorFactor();
        parts.push({
          instance,
          name: node.getName() || mesh.getName(),
          positions: transform(floats(position), matrix),
          indices,
          color: factor ? [factor[0]!, factor[1]!, factor[2]!, factor[3]!] : DEFAULT_COLOR,
        });
        any = true;
      }
      if (any) instance++;
    }
    for (const child of node.listChildren()) visit(child);
  };
  for (const scene of scenes) for (const node of scene.listChildren()) visit(node);
  return parts;
}

/** Triangles the document draws (lists, strips and fans), each mesh counted once. */
export function triangleCount(doc: Document): number {
  let triangles = 0;
  for (const mesh of doc.getRoot().listMeshes()) {
    for (const primitive of mesh.listPrimitives()) {
      const mode = primitive.getMode();
      const count = primitive.getIndices()?.getCount() ?? primitive.getAttribute("POSITION")?.getCount() ?? 0;
      if (mode === 4) triangles += Math.floor(count / 3);
      else if (mode === 5 || mode === 6) triangles += Math.max(0, count - 2);
    }
  }
  return triangles;
}

export interface Box {
  min: [number, number, number];
  max: [number, number, number];
}

/** The world bounding box of the parts (zeros when there is nothing). */
export function boundsOf(parts: readonly Part[]): Box {
  const min: [number, number, number] = [Infinity, Infinity, Infinity];
  const max: [number, number, number] = [-Infinity, -Infinity, -Infinity];
  for (const part of parts) {
    const p = part.positions;
    // Only vertices some triangle uses count.
    for (let i = 0; i < part.indices.length; i++) {
      const v = part.indices[i]! * 3;
      for (let k = 0; k < 3; k++) {
        const c = p[v + k]!;
        if (c < min[k]!) min[k] = c;
        if (c > max[k]!) max[k] = c;
      }
    }
  }
  if (min[0] === Infinity) return { min: [0, 0, 0], max: [0, 0, 0] };
  return { min, max };
}

/** The box's diagonal, sqrt(dx² + dy² + dz²) (Math.hypot rounds differently in the last digit). */
export function diagonalOf(box: Box): number {
  const dx = box.max[0] - box.min[0];
  const dy = box.max[1] - box.min[1];
  const dz = box.max[2] - box.min[2];
  return Math.sqrt(dx * dx + dy * dy + dz * dz);
}
