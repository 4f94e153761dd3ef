// Which library reads which input format, and which formats convert_file writes.
import { extname } from "node:path";
import { ModelError } from "./errors.ts";

export type Reader = "occt" | "assimp" | "gltf";

/** CAD (B-rep) formats, read and tessellated by OpenCascade (occt-import-js). */
const CAD: Record<string, "step" | "iges" | "brep"> = {
  step: "step",
  stp: "step",
  iges: "iges",
  igs: "iges",
  brep: "brep",
  brp: "brep",
};

/** Read by @gltf-transform directly, so nothing of the file (extras, variants) is lost on the way. */
const GLTF = new Set(["gltf", "glb"]);

/** Mesh formats read by assimp (assimpjs), which hands them over as glb. */
const ASSIMP = new Set([
  "obj",
  "stl",
  "ply",
  "fbx",
  "dae",
  "3ds",
  "off",
  "x",
  "ase",
  "ac",
  "lwo",
  "ms3d",
  "md2",
  "md3",
  "md5mesh",
  "smd",
  "irrmesh",
  "cob",
  "x3d",
  "3mf",
  "amf",
]);

export const EXPORT_FORMATS = ["glb", "gltf", "obj", "stl", "ply"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** The lowercase extension of a file name, without the dot ("" when it has none). */
export function extensionOf(file: string): string {
  return extname(file).slice(1).toLowerCase();
}

/** Every readable extension, for messages and docs. */
export function readableFormats(): string[] {
  return [...Object.keys(CAD), ...GLTF, ...ASSIMP];
}

export function readerFor(file: string): { reader: Reader; format: string; cad?: "step" | "iges" | "brep" } {
  const format = extensionOf(file);
  const cad = CAD[format];
  if (cad) return { reader: "occt", format, cad };
  if (GLTF.has(format)) return { reader: "gltf", format };
  if (ASSIMP.has(format)) return { reader: "assimp", format };
  throw new ModelError(
    `Cannot read '${file.slice(file.lastIndexOf("/") + 1)}': ${format ? `the .${format} format` : "a file without an extension"} is not supported. Readable formats: ${readableFormats().join(", ")}`,
  );
}

/**
 * The export format of convert_file's `extension` param: glb when it is missing (the original's
 * default, pxz, is the Pixyz SDK's own format and cannot be written here).
 */
export function exportFormat(extension: unknown): { format: ExportFormat; defaulted: boolean } {
  if (extension === undefined || extension === null || extension === "")
    return { format: "glb", defaulted: true };
  if (typeof extension !== "string") throw new ModelError('params.extension must be a string such as "glb"');
  const format = extension.replace(/^\./, "").toLowerCase();
  if (format === "pxz") {
    throw new ModelError(
      `params.extension 'pxz' cannot be written: it is the Pixyz SDK's own format. Choose one of ${EXPORT_FORMATS.join(", ")}`,
    );
  }
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
    throw new ModelError(
      `params.extension '${extension}' is not supported: choose one of ${EXPORT_FORMATS.join(", ")}`,
    );
  }
  return { format: format as ExportFormat, defaulted: false };
}
