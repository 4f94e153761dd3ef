// OCCT's import result as a glTF document: its product tree as nodes, one glTF mesh per B-rep shape
// (world coordinates, millimetres), one primitive per face color, one material per distinct color.
import { Document, type Material, type Mesh, type Node, type Scene } from "@gltf-transform/core";
import type { OcctMesh, OcctNode, OcctResult } from "occt-import-js";
import { srgbToLinear } from "./color.ts";

type Rgb = [number, number, number];

export function cadDocument(result: OcctResult, name: string): Document {
  const doc = new Document();
  const buffer = doc.createBuffer();
  const scene = doc.createScene(name);
  doc.getRoot().setDefaultScene(scene);
  const materials = new Map<string, Material>();

  const materialFor = (color: Rgb | null): Material | null => {
    if (!color) return null;
    const key = color.map((c) => Math.round(c * 255)).join(",");
    let material = materials.get(key);
    if (!material) {
      const hex = color
        .map((c) =>
          Math.round(c * 255)
            .toString(16)
            .padStart(2, "0"),
        )
        .join("");
      material = doc
        .createMaterial(`color_${hex}`)
        .setBaseColorFactor([srgbToLinear(color[0]), srgbToLinear(color[1]), srgbToLinear(color[2]), 1])
        .setMetallicFactor(0)
        .setRoughnessFactor(0.6);
      materials.set(key, material);
    }
    return material;
  };

  const meshOf = (source: OcctMesh, index: number): Mesh => {
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
        .setMaterial(materialFor(group.color));
      if (normal) primitive.setAttribute("NORMAL", normal);
      mesh.addPrimitive(primitive);
    }
    return mesh;
  };
  const meshes = result.meshes.map(meshOf);

  const visit = (source: OcctNode, parent: Node | Scene, fallback: string) => {
    const node = doc.createNode(source.name || fallback);
    parent.addChild(node);
    if (source.meshes.length === 1 && source.children.length === 0) {
      node.setMesh(meshes[source.meshes[0]!]!);
    } else {
      for (const index of source.meshes) {
        node.addChild(doc.createNode(meshes[index]!.getName()).setMesh(meshes[index]!));
      }
    }
    source.children.forEach((child, i) => {
      visit(child, node, `${node.getName()}_${i}`);
    });
  };
  // OCCT's root is an unnamed holder: its meshes and children go straight into the scene.
  for (const index of result.root.meshes) {
    scene.addChild(doc.createNode(meshes[index]!.getName()).setMesh(meshes[index]!));
  }
  result.root.children.forEach((child, i) => {
    visit(child, scene, `${name}_${i}`);
  });
  return doc;
}
