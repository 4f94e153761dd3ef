// 3D fixtures the tests write themselves (nothing is downloaded): a hand-written OBJ cube, a STEP
// box generated as a minimal AP214 B-rep (6 planar faces, 12 line edges, 8 vertices), the STEP
// files shipped in occt-import-js's package, and readers for what the processes write back
// (glb/glTF through @gltf-transform, OBJ, binary STL, binary PLY, PNG).

import { expect } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Logger, NodeIO } from "@gltf-transform/core";
import { ALL_EXTENSIONS } from "@gltf-transform/extensions";
import { unzlibSync } from "fflate";
import type { TestDaemon } from "./daemon.ts";

/** A cube from -1 to 1 on each axis: 8 vertices, 6 quads (12 triangles once triangulated). */
export const OBJ_CUBE = `# a cube, written by hand
o cube
v -1 -1 -1
v 1 -1 -1
v 1 1 -1
v -1 1 -1
v -1 -1 1
v 1 -1 1
v 1 1 1
v -1 1 1
f 1 4 3 2
f 5 6 7 8
f 1 2 6 5
f 2 3 7 6
f 3 4 8 7
f 4 1 5 8
`;

/** The shortest text Python's str() gives for a float, which the original used for `aabb`. */
export function pythonFloat(value: number): string {
  return Number.isInteger(value) ? `${value}.0` : String(value);
}

/**
 * A STEP AP214 file of one solid box from (0,0,0) to (dx,dy,dz) in millimetres, named `name`: a
 * manifold solid B-rep whose 6 planar faces each have an outer loop of 4 oriented line edges.
 */
export function stepBox(dx: number, dy: number, dz: number, name = "box"): string {
  const lines: string[] = [];
  let next = 100;
  const add = (entity: string): string => {
    const id = `#${next++}`;
    lines.push(`${id}=${entity};`);
    return id;
  };
  const real = (n: number) => (Number.isInteger(n) ? `${n}.` : String(n));
  const point = (p: number[]) => add(`CARTESIAN_POINT('',(${p.map(real).join(",")}))`);
  const direction = (d: number[]) => add(`DIRECTION('',(${d.map(real).join(",")}))`);
  const size = [dx, dy, dz];
  // Corner i has x = bit 0, y = bit 1, z = bit 2.
  const corner = (i: number) => [0, 1, 2].map((axis) => ((i >> axis) & 1) * size[axis]!);
  const vertices = Array.from({ length: 8 }, (_, i) => add(`VERTEX_POINT('',${point(corner(i))})`));
  const edges = new Map<string, string>();
  const edge = (a: number, b: number): { id: string; sense: string } => {
    const [from, to] = a < b ? [a, b] : [b, a];
    const key = `${from}-${to}`;
    let id = edges.get(key);
    if (!id) {
      const p = corner(from);
      const q = corner(to);
      const delta = q.map((v, k) => v - p[k]!);
      const length = Math.hypot(...delta);
      const line = add(
        `LINE('',${point(p)},${add(`VECTOR('',${direction(delta.map((v) => v / length))},${real(length)})`)})`,
      );
      id = add(`EDGE_CURVE('',${vertices[from]},${vertices[to]},${line},.T.)`);
      edges.set(key, id);
    }
    return { id, sense: a < b ? ".T." : ".F." };
  };
  const faces: string[] = [];
  for (const axis of [0, 1, 2]) {
    const u = (axis + 1) % 3;
    const v = (axis + 2) % 3;
    for (const side of [0, 1]) {
      // Counter-clockwise seen from outside: (u,v) order around e_u x e_v = e_axis, reversed on the low side.
      let loop = [
        [0, 0],
        [1, 0],
        [1, 1],
        [0, 1],
      ].map(([a, b]) => (side << axis) | (a! << u) | (b! << v));
      if (side === 0) loop = loop.reverse();
      const oriented = loop.map((c, k) => {
        const e = edge(c, loop[(k + 1) % 4]!);
        return add(`ORIENTED_EDGE('',*,*,${e.id},${e.sense})`);
      });
      const bound = add(`FACE_OUTER_BOUND('',${add(`EDGE_LOOP('',(${oriented.join(",")}))`)},.T.)`);
      const normal = [0, 0, 0];
      normal[axis] = side === 0 ? -1 : 1;
      const reference = [0, 0, 0];
      reference[u] = 1;
      const placement = add(
        `AXIS2_PLACEMENT_3D('',${point(corner(loop[0]!))},${direction(normal)},${direction(reference)})`,
      );
      faces.push(add(`ADVANCED_FACE('',(${bound}),${add(`PLANE('',${placement})`)},.T.)`));
    }
  }
  const solid = add(`MANIFOLD_SOLID_BREP('${name}',${add(`CLOSED_SHELL('',(${faces.join(",")}))`)})`);
  const origin = add(
    `AXIS2_PLACEMENT_3D('',${point([0, 0, 0])},${direction([0, 0, 1])},${direction([1, 0, 0])})`,
  );
  const header = `ISO-10303-21;
HEADER;
FILE_DESCRIPTION(('${name}'),'2;1');
FILE_NAME('${name}.step','2024-01-01T00:00:00',(''),(''),'pixyz-scheduler tests','','');
FILE_SCHEMA(('AUTOMOTIVE_DESIGN { 1 0 10303 214 1 1 1 1 }'));
ENDSEC;
DATA;
#1=APPLICATION_CONTEXT('automotive design');
#2=APPLICATION_PROTOCOL_DEFINITION('international standard','automotive_design',2000,#1);
#3=PRODUCT_CONTEXT('',#1,'mechanical');
#4=PRODUCT('${name}','${name}','',(#3));
#5=PRODUCT_DEFINITION_FORMATION('','',#4);
#6=PRODUCT_DEFINITION_CONTEXT('part definition',#1,'design');
#7=PRODUCT_DEFINITION('design','',#5,#6);
#8=PRODUCT_DEFINITION_SHAPE('','',#7);
#9=SHAPE_DEFINITION_REPRESENTATION(#8,#10);
#10=ADVANCED_BREP_SHAPE_REPRESENTATION('${name}',(${solid},${origin}),#11);
#11=(GEOMETRIC_REPRESENTATION_CONTEXT(3) GLOBAL_UNCERTAINTY_ASSIGNED_CONTEXT((#15)) GLOBAL_UNIT_ASSIGNED_CONTEXT((#12,#13,#14)) REPRESENTATION_CONTEXT('',''));
#12=(LENGTH_UNIT() NAMED_UNIT(*) SI_UNIT(.MILLI.,.METRE.));
#13=(NAMED_UNIT(*) PLANE_ANGLE_UNIT() SI_UNIT($,.RADIAN.));
#14=(NAMED_UNIT(*) SI_UNIT($,.STERADIAN.) SOLID_ANGLE_UNIT());
#15=UNCERTAINTY_MEASURE_WITH_UNIT(LENGTH_MEASURE(1.E-07),#12,'distance_accuracy_value','');
`;
  return `${header}${lines.join("\n")}\nENDSEC;\nEND-ISO-10303-21;\n`;
}

const OCCT_TESTFILES = join(import.meta.dir, "../../node_modules/occt-import-js/test/testfiles");

/** A STEP file shipped in occt-import-js's package (under test/testfiles), read from the install. */
export function occtTestFile(relativePath: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(readFileSync(join(OCCT_TESTFILES, relativePath)));
}
export const OCCT_TESTFILES_DIR = OCCT_TESTFILES;

export interface Bounds {
  min: number[];
  max: number[];
}

function boundsOf(positions: ArrayLike<number>): Bounds {
  const min = [Infinity, Infinity, Infinity];
  const max = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < positions.length; i += 3) {
    for (let k = 0; k < 3; k++) {
      const v = positions[i + k]!;
      if (v < min[k]!) min[k] = v;
      if (v > max[k]!) max[k] = v;
    }
  }
  return { min, max };
}

export interface MeshSummary {
  vertices: number;
  triangles: number;
  bounds: Bounds;
}

/** Vertices (as stored), triangles and world bounds of a glb, or of a .gltf with its resources. */
export async function readGltf(
  path: string,
): Promise<MeshSummary & { materials: number; nodes: number; instances: number }> {
  const io = new NodeIO().setLogger(new Logger(Logger.Verbosity.ERROR)).registerExtensions(ALL_EXTENSIONS);
  const doc = await io.read(path);
  let vertices = 0;
  let triangles = 0;
  let instances = 0;
  const all: number[] = [];
  for (const node of doc.getRoot().listNodes()) {
    const mesh = node.getMesh();
    if (!mesh) continue;
    instances++;
    const matrix = node.getWorldMatrix();
    for (const primitive of mesh.listPrimitives()) {
      const position = primitive.getAttribute("POSITION")!;
      vertices += position.getCount();
      triangles += (primitive.getIndices()?.getCount() ?? position.getCount()) / 3;
      const p = [0, 0, 0];
      for (let i = 0; i < position.getCount(); i++) {
        position.getElement(i, p);
        for (let r = 0; r < 3; r++) {
          all.push(matrix[r]! * p[0]! + matrix[4 + r]! * p[1]! + matrix[8 + r]! * p[2]! + matrix[12 + r]!);
        }
      }
    }
  }
  return {
    vertices,
    triangles,
    bounds: boundsOf(all),
    materials: doc.getRoot().listMaterials().length,
    nodes: doc.getRoot().listNodes().length,
    instances,
  };
}

/** An OBJ's `v` lines and triangles (a face of n corners is n - 2 triangles). */
export function readObj(text: string): MeshSummary {
  const positions: number[] = [];
  let triangles = 0;
  for (const line of text.split("\n")) {
    const [kind, ...rest] = line.trim().split(/\s+/);
    if (kind === "v") positions.push(...rest.slice(0, 3).map(Number));
    else if (kind === "f") triangles += rest.length - 2;
  }
  return { vertices: positions.length / 3, triangles, bounds: boundsOf(positions) };
}

/** A binary STL: its triangle count from the header, checked against the file's size. */
export function readStl(bytes: Uint8Array): MeshSummary {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(80, true);
  if (bytes.byteLength !== 84 + count * 50)
    throw new Error(`STL size ${bytes.byteLength} for ${count} triangles`);
  const positions: number[] = [];
  for (let t = 0; t < count; t++) {
    for (let k = 0; k < 9; k++) positions.push(view.getFloat32(84 + t * 50 + 12 + k * 4, true));
  }
  return { vertices: count * 3, triangles: count, bounds: boundsOf(positions) };
}

const PLY_SIZES: Record<string, number> = {
  char: 1,
  uchar: 1,
  short: 2,
  ushort: 2,
  int: 4,
  uint: 4,
  float: 4,
  double: 8,
};

/** A binary little-endian PLY whose vertices start with float x y z, and its triangle lists. */
export function readPly(bytes: Uint8Array): MeshSummary & { header: string } {
  const text = new TextDecoder("latin1").decode(bytes.subarray(0, 2048));
  const end = text.indexOf("end_header\n") + "end_header\n".length;
  const header = text.slice(0, end);
  const vertexCount = Number(/element vertex (\d+)/.exec(header)![1]);
  const faceCount = Number(/element face (\d+)/.exec(header)![1]);
  const vertexBlock = header.slice(header.indexOf("element vertex"), header.indexOf("element face"));
  const stride = [...vertexBlock.matchAll(/^property (\w+) \w+$/gm)].reduce(
    (n, m) => n + PLY_SIZES[m[1]!]!,
    0,
  );
  const view = new DataView(bytes.buffer, bytes.byteOffset + end, bytes.byteLength - end);
  const positions: number[] = [];
  for (let i = 0; i < vertexCount; i++) {
    for (let k = 0; k < 3; k++) positions.push(view.getFloat32(i * stride + k * 4, true));
  }
  let offset = vertexCount * stride;
  let triangles = 0;
  for (let f = 0; f < faceCount; f++) {
    const n = view.getUint8(offset);
    triangles += n - 2;
    offset += 1 + n * 4;
  }
  if (offset !== view.byteLength) throw new Error(`PLY has ${view.byteLength - offset} trailing bytes`);
  return { vertices: vertexCount, triangles, bounds: boundsOf(positions), header };
}

export interface Png {
  width: number;
  height: number;
  /** RGBA, 8 bits per channel, row after row. */
  pixels: Uint8Array;
}

/** Decodes the PNGs the thumbnails write: 8-bit RGBA, not interlaced, any of the 5 row filters. */
export function readPng(bytes: Uint8Array): Png {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const signature = [137, 80, 78, 71, 13, 10, 26, 10];
  if (!signature.every((b, i) => bytes[i] === b)) throw new Error("not a PNG");
  let offset = 8;
  let width = 0;
  let height = 0;
  const idat: Uint8Array[] = [];
  while (offset < bytes.length) {
    const length = view.getUint32(offset);
    const type = new TextDecoder().decode(bytes.subarray(offset + 4, offset + 8));
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      width = view.getUint32(offset + 8);
      height = view.getUint32(offset + 12);
      if (data[8] !== 8 || data[9] !== 6 || data[12] !== 0) throw new Error("not 8-bit RGBA non-interlaced");
    } else if (type === "IDAT") idat.push(data);
    offset += 12 + length;
  }
  const raw = unzlibSync(Buffer.concat(idat));
  const stride = width * 4;
  const pixels = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= 4 ? pixels[y * stride + x - 4]! : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x]! : 0;
      const c = x >= 4 && y > 0 ? pixels[(y - 1) * stride + x - 4]! : 0;
      const p = a + b - c;
      const paeth =
        Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c)
          ? a
          : Math.abs(p - b) <= Math.abs(p - c)
            ? b
            : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter]!;
      pixels[y * stride + x] = (line[x]! + predictor) & 0xff;
    }
  }
  return { width, height, pixels };
}

/** A built-in process run through the daemon on one input file, to its end; with its uuid. */
export async function runModelProcess(
  d: TestDaemon,
  process: string,
  file: File,
  params: unknown = {},
): Promise<Record<string, unknown>> {
  const res = await d.submit({ process, file, params: JSON.stringify(params) });
  expect(res.status).toBe(200);
  const { uuid } = (await res.json()) as { uuid: string };
  return { uuid, ...(await d.waitFor(uuid)) };
}

/** Where a finished job's output `name` is on disk. */
export function outputOf(d: TestDaemon, job: Record<string, unknown>, name: string): string {
  return join(d.dataDir, "jobs", job.uuid as string, "outputs", name);
}
