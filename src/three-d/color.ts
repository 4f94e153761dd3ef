// sRGB <-> linear, per channel in 0..1: colors from CAD files are display (sRGB) values, glTF's
// baseColorFactor is linear, and the thumbnails are written as sRGB again.
export function srgbToLinear(c: number): number {
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

export function linearToSrgb(c: number): number {
  const v = Math.min(1, Math.max(0, c));
  return v <= 0.0031308 ? v * 12.92 : 1.055 * v ** (1 / 2.4) - 0.055;
}
