// Triangle lists (world coordinates) as OBJ (+ MTL for the colors), binary STL and binary PLY.
// Vertices are written as the parts hold them (no welding); normals are left to the reader.
import { linearToSrgb } from "./color.ts";
import type { Part } from "./flatten.ts";

/** The shortest decimal text that reads back as the same 32-bit float. */
function f32(x: number): string {
  if (Number.isInteger(x)) return String(x);
  for (let precision = 7; precision < 9; precision++) {
    const text = x.toPrecision(precision);
    if (Math.fround(Number(text)) === x) return trimZeros(text);
  }
  return trimZeros(x.toPrecision(9));
}

function trimZeros(text: string): string {
  if (text.includes("e")) {
    const [mantissa, exponent] = text.split("e");
    return `${trimZeros(mantissa!)}e${exponent}`;
  }
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

function colorName(color: readonly number[]): string {
  return `color_${color
    .slice(0, 3)
    .map((c) =>
      Math.round(linearToSrgb(c) * 255)
        .toString(16)
        .padStart(2, "0"),
    )
    .join("")}`;
}

/** An OBJ's text and the MTL it refers to as `mtlName`. */
export function toObj(parts: readonly Part[], mtlName: string): { obj: string; mtl: string } {
  const out: string[] = ["# written by pixyz-scheduler", `mtllib ${mtlName}`];
  const materials = new Map<string, string>();
  let base = 1;
  for (const part of parts) {
    const name = colorName(part.color);
    if (!materials.has(name)) {
      const [r, g, b] = part.color.map(linearToSrgb) as [number, number, number];
      materials.set(
        name,
        `newmtl ${name}\nKd ${f32(Math.fround(r))} ${f32(Math.fround(g))} ${f32(Math.fround(b))}\nd ${part.color[3]}\n`,
      );
    }
    out.push(`o ${part.name.replace(/\s+/g, "_") || "part"}`, `usemtl ${name}`);
    const p = part.positions;
    for (let i = 0; i < p.length; i += 3) out.push(`v ${f32(p[i]!)} ${f32(p[i + 1]!)} ${f32(p[i + 2]!)}`);
    const index = part.indices;
    for (let t = 0; t < index.length; t += 3) {
      out.push(`f ${index[t]! + base} ${index[t + 1]! + base} ${index[t + 2]! + base}`);
    }
    base += p.length / 3;
  }
  return { obj: `${out.join("\n")}\n`, mtl: [...materials.values()].join("\n") };
}

/** A binary STL: 80-byte header, triangle count, then per triangle its normal and corners. */
export function toStl(parts: readonly Part[]): Uint8Array {
  let count = 0;
  for (const part of parts) count += part.indices.length / 3;
  const bytes = new Uint8Array(84 + count * 50);
  bytes.set(new TextEncoder().encode("binary STL written by pixyz-scheduler"));
  const view = new DataView(bytes.buffer);
  view.setUint32(80, count, true);
  let offset = 84;
  for (const part of parts) {
    const p = part.positions;
    const index = part.indices;
    for (let t = 0; t < index.length; t += 3) {
      const a = index[t]! * 3;
      const b = index[t + 1]! * 3;
      const c = index[t + 2]! * 3;
      const ux = p[b]! - p[a]!;
      const uy = p[b + 1]! - p[a + 1]!;
      const uz = p[b + 2]! - p[a + 2]!;
      const vx = p[c]! - p[a]!;
      const vy = p[c + 1]! - p[a + 1]!;
      const vz = p[c + 2]! - p[a + 2]!;
      const nx = uy * vz - uz * vy;
      const ny = uz * vx - ux * vz;
      const nz = ux * vy - uy * vx;
      const length = Math.hypot(nx, ny, nz) || 1;
      view.setFloat32(offset, nx / length, true);
      view.setFloat32(offset + 4, ny / length, true);
      view.setFloat32(offset + 8, nz / length, true);
      let o = offset + 12;
      for (const v of [a, b, c]) {
        view.setFloat32(o, p[v]!, true);
        view.setFloat32(o + 4, p[v + 1]!, true);
        view.setFloat32(o + 8, p[v + 2]!, true);
        o += 12;
      }
      offset += 50;
    }
  }
  return bytes;
}

/** A binary little-endian PLY: float x y z and uchar red green blue per vertex, triangle lists. */
export function toPly(parts: readonly Part[]): Uint8Array {
  let vertices = 0;
  let faces = 0;
  for (const part of parts) {
    vertices += part.positions.length / 3;
    faces += part.indices.length / 3;
  }
  const header = new TextEncoder().encode(
    [
      "ply",
      "format binary_little_endian 1.0",
      "comment written by pixyz-scheduler",
      `element vertex ${vertices}`,
      "property float x",
      "property float y",
      "property float z",
      "property uchar red",
      "property uchar green",
      "property uchar blue",
      `element face ${faces}`,
      "property list uchar int vertex_indices",
      "end_header",
      "",
    ].join("\n"),
  );
  const bytes = new Uint8Array(header.length + vertices * 15 + faces * 13);
  bytes.set(header);
  const view = new DataView(bytes.buffer);
  let offset = header.length;
  for (const part of parts) {
    const rgb = part.color.slice(0, 3).map((c) => Math.round(linearToSrgb(c) * 255));
    const p = part.positions;
    for (let i = 0; i < p.length; i += 3) {
      view.setFloat32(offset, p[i]!, true);
      view.setFloat32(offset + 4, p[i + 1]!, true);
      view.setFloat32(offset + 8, p[i + 2]!, true);
      view.setUint8(offset + 12, rgb[0]!);
      view.setUint8(offset + 13, rgb[1]!);
      view.setUint8(offset + 14, rgb[2]!);
      offset += 15;
    }
  }
  let base = 0;
  for (const part of parts) {
    const index = part.indices;
    for (let t = 0; t < index.length; t += 3) {
      view.setUint8(offset, 3);
      view.setInt32(offset + 1, index[t]! + base, true);
      view.setInt32(offset + 5, index[t + 1]! + base, true);
      view.setInt32(offset + 9, index[t + 2]! + base, true);
      offset += 13;
    }
    base += part.positions.length / 3;
  }
  return bytes;
}
