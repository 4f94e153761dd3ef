// A small CPU renderer for thumbnails: perspective projection, z-buffer, one flat shade per
// triangle (ambient + a key light from the upper left + a head light, both sides lit), rendered at
// 2x or 3x the size and averaged down (anti-aliasing). Pixels no triangle covers stay transparent.
import { linearToSrgb } from "./color.ts";
import type { Part } from "./flatten.ts";
import type { Camera, Vec3 } from "./views.ts";

/** Samples per pixel side: 3 (9 samples) up to 1024 pixels, 2 above (memory stays under ~140 MB at 2048). */
export function supersampling(width: number, height: number): number {
  return Math.max(width, height) <= 1024 ? 3 : 2;
}

const AMBIENT = 0.2;
const KEY = 0.6;
const HEAD = 0.3;

export function render(parts: readonly Part[], camera: Camera, width: number, height: number): Uint8Array {
  const ss = supersampling(width, height);
  const W = width * ss;
  const H = height * ss;
  const depth = new Float32Array(W * H);
  const colors = new Uint32Array(W * H);
  const focal = Math.min(W, H) / 2 / camera.tanHalfFov;
  const { eye, right, up, forward } = camera;
  const key = unit([
    -0.3 * right[0] + 0.8 * up[0] - 0.5 * forward[0],
    -0.3 * right[1] + 0.8 * up[1] - 0.5 * forward[1],
    -0.3 * right[2] + 0.8 * up[2] - 0.5 * forward[2],
  ]);

  for (const part of parts) {
    const p = part.positions;
    const n = p.length / 3;
    const sx = new Float32Array(n);
    const sy = new Float32Array(n);
    const iz = new Float32Array(n);
    for (let v = 0; v < n; v++) {
      const dx = p[v * 3]! - eye[0];
      const dy = p[v * 3 + 1]! - eye[1];
      const dz = p[v * 3 + 2]! - eye[2];
      const z = dx * forward[0] + dy * forward[1] + dz * forward[2];
      const inv = z > 1e-12 ? 1 / z : 0;
      sx[v] = W / 2 + focal * (dx * right[0] + dy * right[1] + dz * right[2]) * inv;
      sy[v] = H / 2 - focal * (dx * up[0] + dy * up[1] + dz * up[2]) * inv;
      iz[v] = inv;
    }
    const [cr, cg, cb] = part.color;
    const index = part.indices;
    for (let t = 0; t < index.length; t += 3) {
      const a = index[t]!;
      const b = index[t + 1]!;
      const c = index[t + 2]!;
      if (iz[a] === 0 || iz[b] === 0 || iz[c] === 0) continue;
      // Flat shading from the triangle's normal, turned towards the camera.
      const ux = p[b * 3]! - p[a * 3]!;
      const uy = p[b * 3 + 1]! - p[a * 3 + 1]!;
      const uz = p[b * 3 + 2]! - p[a * 3 + 2]!;
      const vx = p[c * 3]! - p[a * 3]!;
      const vy = p[c * 3 + 1]! - p[a * 3 + 1]!;
      const vz = p[c * 3 + 2]! - p[a * 3 + 2]!;
      let nx = uy * vz - uz * vy;
      let ny = uz * vx - ux * vz;
      let nz = ux * vy - uy * vx;
      const length = Math.hypot(nx, ny, nz);
      if (length === 0) continue;
      nx /= length;
      ny /= length;
      nz /= length;
      const ex = eye[0] - p[a * 3]!;
      const ey = eye[1] - p[a * 3 + 1]!;
      const ez = eye[2] - p[a * 3 + 2]!;
      if (nx * ex + ny * ey + nz * ez < 0) {
        nx = -nx;
        ny = -ny;
        nz = -nz;
      }
      const shade =
        AMBIENT +
        KEY * Math.max(0, nx * key[0] + ny * key[1] + nz * key[2]) +
        HEAD * Math.max(0, -(nx * forward[0] + ny * forward[1] + nz * forward[2]));
      const packed =
        (Math.round(linearToSrgb(cr * shade) * 255) |
          (Math.round(linearToSrgb(cg * shade) * 255) << 8) |
          (Math.round(linearToSrgb(cb * shade) * 255) << 16) |
          (255 << 24)) >>>
        0;
      fill(
        sx[a]!,
        sy[a]!,
        iz[a]!,
        sx[b]!,
        sy[b]!,
        iz[b]!,
        sx[c]!,
        sy[c]!,
        iz[c]!,
        packed,
        W,
        H,
        depth,
        colors,
      );
    }
  }
  return downsample(colors, depth, width, height, ss);
}

function unit(v: Vec3): Vec3 {
  const l = Math.hypot(v[0], v[1], v[2]) || 1;
  return [v[0] / l, v[1] / l, v[2] / l];
}

/** Fills one triangle: samples at pixel centres, nearest (largest 1/z) wins. */
function fill(
  x0: number,
  y0: number,
  z0: number,
  x1: number,
  y1: number,
  z1: number,
  x2: number,
  y2: number,
  z2: number,
  color: number,
  W: number,
  H: number,
  depth: Float32Array,
  colors: Uint32Array,
): void {
  let area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0);
  if (Math.abs(area) < 1e-12) return;
  const sign = area > 0 ? 1 : -1;
  area *= sign;
  const minX = Math.max(0, Math.floor(Math.min(x0, x1, x2)));
  const maxX = Math.min(W - 1, Math.ceil(Math.max(x0, x1, x2)));
  const minY = Math.max(0, Math.floor(Math.min(y0, y1, y2)));
  const maxY = Math.min(H - 1, Math.ceil(Math.max(y0, y1, y2)));
  if (minX > maxX || minY > maxY) return;
  // Edge functions and their steps along x and y (w0 is opposite vertex 0, ...).
  const a0 = -(y2 - y1) * sign;
  const b0 = (x2 - x1) * sign;
  const a1 = -(y0 - y2) * sign;
  const b1 = (x0 - x2) * sign;
  const a2 = -(y1 - y0) * sign;
  const b2 = (x1 - x0) * sign;
  const startX = minX + 0.5;
  const startY = minY + 0.5;
  let row0 = ((x2 - x1) * (startY - y1) - (y2 - y1) * (startX - x1)) * sign;
  let row1 = ((x0 - x2) * (startY - y2) - (y0 - y2) * (startX - x2)) * sign;
  let row2 = ((x1 - x0) * (startY - y0) - (y1 - y0) * (startX - x0)) * sign;
  const inv = 1 / area;
  for (let y = minY; y <= maxY; y++) {
    let w0 = row0;
    let w1 = row1;
    let w2 = row2;
    let i = y * W + minX;
    for (let x = minX; x <= maxX; x++, i++) {
      if (w0 >= 0 && w1 >= 0 && w2 >= 0) {
        const z = (w0 * z0 + w1 * z1 + w2 * z2) * inv;
        if (z > depth[i]!) {
          depth[i] = z;
          colors[i] = color;
        }
      }
      w0 += a0;
      w1 += a1;
      w2 += a2;
    }
    row0 += b0;
    row1 += b1;
    row2 += b2;
  }
}

/** Averages each ss x ss block: coverage becomes alpha, the covered samples' mean the color. */
function downsample(
  colors: Uint32Array,
  depth: Float32Array,
  width: number,
  height: number,
  ss: number,
): Uint8Array {
  const W = width * ss;
  const out = new Uint8Array(width * height * 4);
  const samples = ss * ss;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let covered = 0;
      for (let sy = 0; sy < ss; sy++) {
        let i = (y * ss + sy) * W + x * ss;
        for (let sx = 0; sx < ss; sx++, i++) {
          if (depth[i] === 0) continue;
          const c = colors[i]!;
          r += c & 0xff;
          g += (c >>> 8) & 0xff;
          b += (c >>> 16) & 0xff;
          covered++;
        }
      }
      if (covered === 0) continue;
      const o = (y * width + x) * 4;
      out[o] = Math.round(r / covered);
      out[o + 1] = Math.round(g / covered);
      out[o + 2] = Math.round(b / covered);
      out[o + 3] = Math.round((255 * covered) / samples);
    }
  }
  return out;
}
