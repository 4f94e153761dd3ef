// A STEP assembly whose parts are other files (uploaded together in an archive): each file read by
// OpenCascade once, placed where the assembly says, nested assemblies followed. The glTF node tree
// mirrors the assembly: one node per occurrence, named after its file, with its placement.
import { readFileSync, statSync } from "node:fs";
import { basename, dirname, extname, relative, resolve } from "node:path";
import type { Document, Node, Scene } from "@gltf-transform/core";
import type { OcctResult } from "occt-import-js";
import { CadDocument } from "./cad-document.ts";
import { ModelError } from "./errors.ts";
import { readCad } from "./occt.ts";
import { externalReferences } from "./step-references.ts";

/** Occurrences followed at most (a guard against a file that places itself through others). */
const MAX_DEPTH = 32;

export interface StepFile {
  bytes: Uint8Array;
  /** Its text (STEP is ASCII; latin1 keeps every byte). */
  text: string;
}

export function readStepFile(path: string): StepFile {
  const bytes = readFileSync(path);
  return { bytes, text: new TextDecoder("latin1").decode(bytes) };
}

/** Whether a STEP file may place parts kept in other files (a cheap look at its bytes). */
export function mayHaveExternalParts(bytes: Uint8Array): boolean {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buffer.includes("APPLIED_DOCUMENT_REFERENCE") && buffer.includes("DOCUMENT_FILE");
}

/**
 * The assembly at `path` as one document. Parts are looked up relative to the file that names
 * them and must stay inside `within` (the top file's folder); a missing part is a ModelError that
 * says what to upload.
 */
export async function readStepAssembly(path: string, within = dirname(path)): Promise<Document> {
  const top = basename(path);
  const builder = new CadDocument(top);
  const results = new Map<string, OcctResult | null>();
  const files = new Map<string, StepFile>();

  const load = (file: string): StepFile => {
    let loaded = files.get(file);
    if (!loaded) {
      loaded = readStepFile(file);
      files.set(file, loaded);
    }
    return loaded;
  };

  const place = async (file: string, parent: Node | Scene, chain: string[]): Promise<void> => {
    const source = load(file);
    const references = externalReferences(source.text);
    let result = results.get(file);
    if (result === undefined) {
      try {
        result = await readCad(basename(file), source.bytes, "step");
      } catch (error) {
        // A file made only of references to parts has no geometry of its own to read.
        if (references.length === 0) throw error;
        result = null;
      }
      results.set(file, result);
    }
    if (result && result.meshes.length > 0) builder.add(result, parent, basename(file));
    for (const reference of references) {
      const part = resolve(dirname(file), reference.file);
      const shown = relative(within, part);
      if (shown.startsWith("..")) {
        throw new ModelError(
          `'${basename(file)}' refers to '${reference.file}', outside the uploaded folder`,
        );
      }
      if (!statSync(part, { throwIfNoEntry: false })?.isFile()) {
        throw new ModelError(
          `'${basename(file)}' refers to the part '${reference.file}', which was not uploaded: send the assembly and its parts in one archive (.zip, .tar, .tar.gz) and name the assembly in params.filename or config.root_file`,
        );
      }
      if (chain.includes(part) || chain.length >= MAX_DEPTH) {
        throw new ModelError(`'${basename(file)}' places '${reference.file}' inside itself`);
      }
      const node = builder.doc.createNode(basename(part, extname(part))).setMatrix(reference.matrix as never);
      parent.addChild(node);
      await place(part, node, [...chain, part]);
    }
  };

  await place(resolve(path), builder.scene, [resolve(path)]);
  return builder.doc;
}
