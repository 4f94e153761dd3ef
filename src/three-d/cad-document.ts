// OCCT's import results as a glTF document: the product tree as nodes, one glTF mesh per B-rep shape
// (the file's coordinates, millimetres), one primitive per face color, one material per distinct color.
import { Document, type Material, type Mesh, type Node, type Scene } from "@gltf-transform/core";
import type { OcctMesh, OcctNode, OcctResult } from "occt-import-js";
import { srgbToLinear } from "./color.ts";

type Rgb = [number, number, number];

/**
 * Builds one glTF document from one or more OCCT results (an assembly of part files adds each
 * part under its placed node; a part placed twice shares its meshes).
 */
export class CadDocument {
  readonly doc = new Document();
  readonly scene: Scene;
  private readonly buffer = this.doc.createBuffer();
  private readonly materials = new Map<string, Material>();
  private readonly meshes = new Map<OcctResult, Mesh[]>();

  constructor(name: string) {
    this.scene = this.doc.createScene(name);
    this.doc.getRoot().setDefaultScene(this.scene);
  }

  private materialFor(color: Rgb | null): Material | null {
    if (!color) return null;
    const key = color.map((c) => Math.round(c * 255)).join(",");
    let material = this.materials.get(key);
    if (!material) {
      const hex = color
        .map((c) =>
          Math.round(c * 255)
            .toString(16)
            .padStart(2, "0"),
        )
        .join("");
      material = this.doc
        .createMaterial(`color_${hex}`)
        .setBaseColorFactor([srgbToLinear(color[0]), srgbToLinear(color[1]), srgbToLinear(color[2]), 1])
        .setMetallicFactor(0)
        .setRoughnessFactor(0.6);
      this.materials.set(key, material);
    }
    return material;
  }

  private meshOf(source: OcctMesh, index: number): Mesh {
    const { doc, buffer } = this;
    const mesh = doc.createMesh(source.name || `shape_${index}`);
    const positions = new Float32Array(source.attributes.position.array);
    const position = doc.createAccessor().setType("VEC3").setArray(positions).setBuffer(buffer);
    const normals = source.attributes.normal?.array;
    const normal =
      normals && normals.length === positions.length
        ? doc.createAccessor().setType("VEC3").setArray(new Float32Array(normals)).setBuffer(buffer)
        : null;
    const all = source.index.array;
    // Triangles grouped by the color of their B-rep face (the shape's color when the face has none).
    const groups = new Map<string, { color: Rgb | null; triangles: number[] }>();
    const faces =
      source.brep_faces.length > 0
        ? source.brep_faces
        : [{ first: 0, last: all.length / 3 - 1, color: null }];
    for (const face of faces) {
      const color = face.color ?? source.color ?? null;
      const key = color ? color.join(",") : "none";
      let group = groups.get(key);
      if (!group) {
        group = { color, triangles: [] };
        groups.set(key, group);
      }
      for (let t = face.first; t <= face.last; t++) group.triangles.push(t);
    }
    for (const group of groups.values()) {
      const indices = new Uint32Array(group.triangles.length * 3);
      group.triangles.forEach((t, k) => {
        indices[k * 3] = all[t * 3]!;
        indices[k * 3 + 1] = all[t * 3 + 1]!;
        indices[k * 3 + 2] = all[t * 3 + 2]!;
      });
      const primitive = doc
        .createPrimitive()
        .setAttribute("POSITION", position)
        .setIndices(doc.createAccessor().setType("SCALAR").setArray(indices).setBuffer(buffer))
        .setMaterial(this.materialFor(group.color));
      if (normal) primitive.setAttribute("NORMAL", normal);
      mesh.addPrimitive(primitive);
    }
    return mesh;
  }

  /** Adds a result's product tree under `parent` (OCCT's unnamed root is left out). */
  add(result: OcctResult, parent: Node | Scene, name: string): void {
    let meshes = this.meshes.get(result);
    if (!meshes) {
      meshes = result.meshes.map((mesh, i) => this.meshOf(mesh, i));
      this.meshes.set(result, meshes);
    }
    const shapes = meshes;
    const visit = (source: OcctNode, into: Node | Scene, fallback: string) => {
      const node = this.doc.createNode(source.name || fallback);
      into.addChild(node);
      if (source.meshes.length === 1 && source.children.length === 0) {
        node.setMesh(shapes[source.meshes[0]!]!);
      } else {
        for (const index of source.meshes) {
          node.addChild(this.doc.createNode(shapes[index]!.getName()).setMesh(shapes[index]!));
        }
      }
      source.children.forEach((child, i) => {
        visit(child, node, `${node.getName()}_${i}`);
      });
    };
    for (const index of result.root.meshes) {
      parent.addChild(this.doc.createNode(shapes[index]!.getName()).setMesh(shapes[index]!));
    }
    result.root.children.forEach((child, i) => {
      visit(child, parent, `${name}_${i}`);
    });
  }
}

export function cadDocument(result: OcctResult, name: string): Document {
  const builder = new CadDocument(name);
  builder.add(result, builder.scene, name);
  return builder.doc;
}
