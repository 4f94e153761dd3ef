// CAD formats through OpenCascade (occt-import-js, LGPL-2.1; its wasm is a separate file loaded at
// run time): STEP, IGES or BREP in, triangle meshes out, one per B-rep shape, each with its B-rep
// faces' triangle ranges and colors. Tessellation happens here, with a chordal tolerance relative to
// the model's size (OCCT's bounding_box_ratio).
import occtImport, { type OcctModule, type OcctResult } from "occt-import-js";
import { ModelError } from "./errors.ts";
import { wasmBytes } from "./wasm-file.ts";

let module: Promise<OcctModule> | null = null;
/** What OpenCascade printed during the last read: its reason for refusing a file. */
let printed: string[] = [];

function occt(): Promise<OcctModule> {
  const keep = (text: string) => {
    if (printed.length < 20) printed.push(text.replace(/\*+/g, "").trim());
  };
  module ??= occtImport({
    wasmBinary: wasmBytes("occt-import-js.wasm", "occt-import-js"),
    print: keep,
    printErr: keep,
  });
  return module;
}

/** The chordal deviation, as a ratio of the model's bounding box, and the angular one (radians). */
export const TESSELLATION = { linearDeflection: 0.001, angularDeflection: 0.25 } as const;

export async function readCad(
  name: string,
  bytes: Uint8Array,
  kind: "step" | "iges" | "brep",
): Promise<OcctResult> {
  const lib = await occt();
  const params = {
    linearUnit: "millimeter",
    linearDeflectionType: "bounding_box_ratio",
    ...TESSELLATION,
  } as const;
  let result: OcctResult;
  printed = [];
  try {
    result =
      kind === "step"
        ? lib.ReadStepFile(bytes, params)
        : kind === "iges"
          ? lib.ReadIgesFile(bytes, params)
          : lib.ReadBrepFile(bytes, params);
  } catch (error) {
    throw new ModelError(
      `Cannot read '${name}' as ${kind.toUpperCase()}: OpenCascade failed (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  if (!result?.success) {
    const reason = printed.find((line) => /ERR|fail/i.test(line)) ?? printed[0];
    throw new ModelError(
      `Cannot read '${name}' as ${kind.toUpperCase()}: OpenCascade rejects it (damaged or not ${kind.toUpperCase()})${reason ? `: ${reason}` : ""}`,
    );
  }
  return result;
}
