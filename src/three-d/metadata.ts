// The original's 16 metadata keys, in its order. Mesh counts come from the welded tessellation of
// each mesh instance (topology.ts), B-rep counts from the shapes OCCT read (CAD inputs only), the
// rest from the counts taken at import (model.ts). Keys a format cannot carry are 0.
import { boundsOf, diagonalOf, type Part } from "./flatten.ts";
import type { Model } from "./model.ts";
import { topologyOf } from "./topology.ts";

export interface Metadata {
  /** The bounding box's diagonal, as the text Python's str() gives for a float. */
  aabb: string;
  part_count: number;
  material_count: number;
  brep_boundary: number;
  brep_body_count: number;
  mesh_boundary: number;
  mesh_edge_count: number;
  mesh_vertex_count: number;
  polygon_count: number;
  animation_count: number;
  variant_count: number;
  pmi_component_count: number;
  annotation_group_count: number;
  annotation_count: number;
  metadata_component_count: number;
  metadata_property_count: number;
}

/**
 * A float as Python's str() writes it (repr): the shortest digits that read back the same, fixed
 * notation for exponents -4 to 15 (with ".0" on whole numbers), else d.ddde+XX.
 */
export function pythonFloat(value: number): string {
  if (Number.isNaN(value)) return "nan";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  if (value === 0) return Object.is(value, -0) ? "-0.0" : "0.0";
  const [mantissa, exponentText] = Math.abs(value).toExponential().split("e") as [string, string];
  const exponent = Number(exponentText);
  const digits = mantissa.replace(".", "");
  const sign = value < 0 ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`;
    const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, "0");
    const fraction = digits.slice(exponent + 1);
    return `${sign}${whole}.${fraction === "" ? "0" : fraction}`;
  }
  const shortMantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${shortMantissa}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
}

export function metadataOf(model: Model, parts: readonly Part[]): Metadata {
  const box = boundsOf(parts);
  const size = Math.max(box.max[0] - box.min[0], box.max[1] - box.min[1], box.max[2] - box.min[2]);
  const instances = new Map<number, Part[]>();
  for (const part of parts) {
    const list = instances.get(part.instance);
    if (list) list.push(part);
    else instances.set(part.instance, [part]);
  }
  let vertices = 0;
  let edges = 0;
  let boundary = 0;
  let loops = 0;
  let bodies = 0;
  for (const list of instances.values()) {
    const t = topologyOf(list, box.min, size);
    vertices += t.vertices;
    edges += t.edges;
    boundary += t.boundaryEdges;
    loops += t.boundaryLoops;
    bodies += t.components;
  }
  let polygons = 0;
  for (const part of parts) polygons += part.indices.length / 3;
  const { facts } = model;
  return {
    aabb: pythonFloat(diagonalOf(box)),
    part_count: instances.size,
    material_count: facts.materials,
    brep_boundary: model.brep ? loops : 0,
    brep_body_count: model.brep ? bodies : 0,
    mesh_boundary: boundary,
    mesh_edge_count: edges,
    mesh_vertex_count: vertices,
    polygon_count: polygons,
    animation_count: facts.animations,
    variant_count: facts.variants,
    pmi_component_count: 0,
    annotation_group_count: 0,
    annotation_count: 0,
    metadata_component_count: facts.metadataComponents,
    metadata_property_count: facts.metadataProperties,
  };
}
