// Mesh formats through assimp (assimpjs, MIT): the input and its companion files (materials,
// buffers, textures) in, one glb out. The wasm module is compiled once per process, on first use.
import assimpjs, { type AssimpModule } from "assimpjs";
import { ModelError } from "./errors.ts";
import { wasmBytes } from "./wasm-file.ts";

let module: Promise<AssimpModule> | null = null;

function assimp(): Promise<AssimpModule> {
  module ??= assimpjs({
    wasmBinary: wasmBytes("assimpjs.wasm", "assimpjs"),
    print: () => {},
    printErr: () => {},
  });
  return module;
}

export interface NamedBytes {
  /** The name other files use to refer to it (relative to the main file's folder). */
  name: string;
  bytes: Uint8Array;
}

/** Converts `main` (with the files it refers to) to glb; a file assimp cannot read is a ModelError. */
export async function assimpToGlb(
  main: NamedBytes,
  companions: NamedBytes[],
  format: string,
): Promise<Uint8Array> {
  const ajs = await assimp();
  const files = new ajs.FileList();
  files.AddFile(main.name, main.bytes);
  for (const file of companions) files.AddFile(file.name, file.bytes);
  let result: ReturnType<AssimpModule["ConvertFileList"]>;
  try {
    result = ajs.ConvertFileList(files, "glb2");
  } catch (error) {
    throw new ModelError(
      `Cannot read '${main.name}' as ${format.toUpperCase()}: assimp failed (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  if (!result.IsSuccess() || result.FileCount() === 0) {
    throw new ModelError(
      `Cannot read '${main.name}' as ${format.toUpperCase()}: assimp reports '${result.GetErrorCode()}' (the file is damaged, empty or not ${format.toUpperCase()})`,
    );
  }
  return result.GetFile(0).GetContent().slice();
}
