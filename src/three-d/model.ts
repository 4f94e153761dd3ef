// The model every process works on: the scene as a glTF document (@gltf-transform), with what the
// import knew about it before anything was changed (the counts metadata reports).
import type { Document } from "@gltf-transform/core";
import type { Reader } from "./formats.ts";

/** Counts taken from the document right after import, before any repair or decimation. */
export interface ModelFacts {
  /** Materials the geometry uses, not counting the importer's stand-in for geometry without one. */
  materials: number;
  animations: number;
  /** KHR_materials_variants variants. */
  variants: number;
  /** Nodes, meshes and materials carrying custom properties (glTF extras). */
  metadataComponents: number;
  /** Custom properties over all of them. */
  metadataProperties: number;
}

export interface Model {
  /** The input file's base name. */
  name: string;
  /** Its lowercase extension. */
  format: string;
  reader: Reader;
  doc: Document;
  /** True when read from B-rep CAD (OCCT): each glTF mesh is one tessellated B-rep shape. */
  brep: boolean;
  facts: ModelFacts;
}
