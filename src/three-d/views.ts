// The original's four thumbnail views (its fitCamera directions and fields of view) and the
// camera that frames the model's bounding sphere in each.
import type { Box } from "./flatten.ts";

export type Vec3 = [number, number, number];

export interface View {
  name: "iso" | "x" | "y" | "z";
  /** The direction the camera looks in. */
  direction: Vec3;
  /** Field of view across the image's smaller side, degrees. */
  fov: number;
  /** What is up on the image (for the top view, which looks down the Y axis). */
  up: Vec3;
}

export const VIEWS: readonly View[] = [
  { name: "iso", direction: [-0.5, -0.5, -1], fov: 70, up: [0, 1, 0] },
  { name: "x", direction: [0, 0, -1], fov: 90, up: [0, 1, 0] },
  { name: "y", direction: [-1, 0, 0], fov: 90, up: [0, 1, 0] },
  { name: "z", direction: [0, -1, 0], fov: 90, up: [0, 0, -1] },
];

export interface Camera {
  eye: Vec3;
  /** Unit vectors: right, up and forward (into the image). */
  right: Vec3;
  up: Vec3;
  forward: Vec3;
  /** tan(fov / 2). */
  tanHalfFov: number;
}

const normalize = (v: Vec3): Vec3 => {
  const l = Math.hypot(v[0], v[1], v[2]) || 1;
  return [v[0] / l, v[1] / l, v[2] / l];
};
const cross = (a: Vec3, b: Vec3): Vec3 => [
  a[1] * b[2] - a[2] * b[1],
  a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0],
];

/** Part of the frame left empty around the model. */
const MARGIN = 0.05;

/**
 * A camera looking along the view's direction at the box's center, as close as it can be with
 * every corner of the box inside the frame (`aspect`: width / height of the image).
 */
export function fitCamera(view: View, box: Box, aspect = 1): Camera {
  const center: Vec3 = [0, 1, 2].map((k) => (box.min[k]! + box.max[k]!) / 2) as Vec3;
  const forward = normalize(view.direction);
  const right = normalize(cross(forward, view.up));
  const up = cross(right, forward);
  const halfFov = (view.fov * Math.PI) / 360;
  const tan = Math.tan(halfFov);
  // The field of view spans the smaller side; the larger one sees proportionally more.
  const tanX = tan * Math.max(1, aspect) * (1 - MARGIN);
  const tanY = (tan / Math.min(1, aspect)) * (1 - MARGIN);
  const size = Math.max(
    Math.hypot(box.max[0] - box.min[0], box.max[1] - box.min[1], box.max[2] - box.min[2]),
    1e-9,
  );
  let distance = 0;
  for (let corner = 0; corner < 8; corner++) {
    const c = [0, 1, 2].map((k) => ((corner >> k) & 1 ? box.max[k]! : box.min[k]!) - center[k]!);
    const x = c[0]! * right[0] + c[1]! * right[1] + c[2]! * right[2];
    const y = c[0]! * up[0] + c[1]! * up[1] + c[2]! * up[2];
    const z = c[0]! * forward[0] + c[1]! * forward[1] + c[2]! * forward[2];
    // Depth of the corner is distance + z: it must see |x| within tanX and |y| within tanY.
    distance = Math.max(distance, Math.abs(x) / tanX - z, Math.abs(y) / tanY - z, size * 0.01 - z);
  }
  const eye: Vec3 = [
    center[0] - forward[0] * distance,
    center[1] - forward[1] * distance,
    center[2] - forward[2] * distance,
  ];
  return { eye, right, up, forward, tanHalfFov: tan };
}
