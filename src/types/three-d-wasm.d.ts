// Types for the two emscripten packages the 3D processes use (neither ships any): only what
// src/three-d/assimp.ts and src/three-d/occt.ts call.
interface EmscriptenOptions {
  /** The .wasm file's bytes, so the glue never looks for it itself. */
  wasmBinary?: Uint8Array;
  print?: (text: string) => void;
  printErr?: (text: string) => void;
}

declare module "assimpjs" {
  interface AssimpFile {
    GetPath(): string;
    GetContent(): Uint8Array;
  }
  interface AssimpResult {
    IsSuccess(): boolean;
    GetErrorCode(): string;
    FileCount(): number;
    GetFile(index: number): AssimpFile;
  }
  export interface AssimpModule {
    FileList: new () => { AddFile(name: string, content: Uint8Array): void };
    ConvertFileList(files: InstanceType<AssimpModule["FileList"]>, format: string): AssimpResult;
  }
  const factory: (options?: EmscriptenOptions) => Promise<AssimpModule>;
  export default factory;
}

declare module "occt-import-js" {
  export interface OcctMesh {
    name: string;
    color?: [number, number, number];
    brep_faces: { first: number; last: number; color: [number, number, number] | null }[];
    attributes: { position: { array: number[] }; normal?: { array: number[] } };
    index: { array: number[] };
  }
  export interface OcctNode {
    name: string;
    meshes: number[];
    children: OcctNode[];
  }
  export interface OcctResult {
    success: boolean;
    root: OcctNode;
    meshes: OcctMesh[];
  }
  export interface OcctParams {
    linearUnit?: "millimeter" | "centimeter" | "meter" | "inch" | "foot";
    linearDeflectionType?: "bounding_box_ratio" | "absolute_value";
    linearDeflection?: number;
    angularDeflection?: number;
  }
  export interface OcctModule {
    ReadStepFile(content: Uint8Array, params: OcctParams | null): OcctResult;
    ReadIgesFile(content: Uint8Array, params: OcctParams | null): OcctResult;
    ReadBrepFile(content: Uint8Array, params: OcctParams | null): OcctResult;
  }
  const factory: (options?: EmscriptenOptions) => Promise<OcctModule>;
  export default factory;
}
