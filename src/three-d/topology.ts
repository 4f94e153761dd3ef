// Counts on the welded mesh of one mesh instance: vertices at the same place (to a millionth of
// the model's size) are one vertex, whatever normals or UVs split them in the file. From that:
// vertices and edges in use, boundary edges (used by one triangle), the loops those edges form,
// and the connected pieces. Degenerate triangles (two corners welded together) are skipped.
import type { Part } from "./flatten.ts";

export interface Topology {
  vertices: number;
  edges: number;
  triangles: number;
  boundaryEdges: number;
  /** Closed chains of boundary edges: the holes and open borders. 0 for a closed surface. */
  boundaryLoops: number;
  /** Connected pieces (a solid's tessellation is one). */
  components: number;
}

class UnionFind {
  private readonly parent: Int32Array;
  constructor(size: number) {
    this.parent = new Int32Array(size).map((_, i) => i);
  }
  find(a: number): number {
    let root = a;
    while (this.parent[root] !== root) root = this.parent[root]!;
    while (this.parent[a] !== root) {
      const next = this.parent[a]!;
      this.parent[a] = root;
      a = next;
    }
    return root;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent[ra] = rb;
  }
}

/** Quantisation steps over the model's size: 2^17 per axis keeps a key below 2^51. */
const STEPS = 2 ** 17;

/**
 * The topology of one instance's parts, welded on a grid of `size` / 2^17 (`size`: the largest
 * extent of the whole model, so every instance is welded alike).
 */
export function topologyOf(parts: readonly Part[], origin: readonly number[], size: number): Topology {
  const cell = size > 0 ? size / (STEPS - 1) : 1;
  const ids = new Map<number, number>();
  const welded: Uint32Array[] = [];
  for (const part of parts) {
    const p = part.positions;
    const map = new Uint32Array(p.length / 3);
    for (let v = 0; v < map.length; v++) {
      const qx = Math.round((p[v * 3]! - origin[0]!) / cell);
      const qy = Math.round((p[v * 3 + 1]! - origin[1]!) / cell);
      const qz = Math.round((p[v * 3 + 2]! - origin[2]!) / cell);
      const key = (qx * STEPS + qy) * STEPS + qz;
      let id = ids.get(key);
      if (id === undefined) {
        id = ids.size;
        ids.set(key, id);
      }
      map[v] = id;
    }
    welded.push(map);
  }
  const vertexCount = ids.size;
  const edges = new Map<number, number>();
  const used = new Uint8Array(vertexCount);
  const pieces = new UnionFind(vertexCount);
  let triangles = 0;
  parts.forEach((part, k) => {
    const map = welded[k]!;
    const index = part.indices;
    for (let t = 0; t < index.length; t += 3) {
      const a = map[index[t]!]!;
      const b = map[index[t + 1]!]!;
      const c = map[index[t + 2]!]!;
      if (a === b || b === c || a === c) continue;
      triangles++;
      used[a] = used[b] = used[c] = 1;
      pieces.union(a, b);
      pieces.union(b, c);
      for (const [u, v] of [
        [a, b],
        [b, c],
        [c, a],
      ] as const) {
        const key = u < v ? u * vertexCount + v : v * vertexCount + u;
        edges.set(key, (edges.get(key) ?? 0) + 1);
      }
    }
  });
  let vertices = 0;
  const roots = new Set<number>();
  for (let v = 0; v < vertexCount; v++) {
    if (!used[v]) continue;
    vertices++;
    roots.add(pieces.find(v));
  }
  const loops = new UnionFind(vertexCount);
  const onBoundary = new Set<number>();
  let boundaryEdges = 0;
  for (const [key, count] of edges) {
    if (count !== 1) continue;
    boundaryEdges++;
    const u = Math.floor(key / vertexCount);
    const v = key % vertexCount;
    loops.union(u, v);
    onBoundary.add(u);
    onBoundary.add(v);
  }
  const loopRoots = new Set<number>();
  for (const v of onBoundary) loopRoots.add(loops.find(v));
  return {
    vertices,
    edges: edges.size,
    triangles,
    boundaryEdges,
    boundaryLoops: loopRoots.size,
    components: roots.size,
  };
}
