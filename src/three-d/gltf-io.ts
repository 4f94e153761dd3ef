// One NodeIO for reading and writing glTF: every extension @gltf-transform knows (meshopt-compressed
// files decoded with meshoptimizer), warnings about optional extensions kept out of the job's log.
import { Logger, NodeIO } from "@gltf-transform/core";
import { ALL_EXTENSIONS } from "@gltf-transform/extensions";
import { MeshoptDecoder } from "meshoptimizer";

let io: Promise<NodeIO> | null = null;

export function gltfIO(): Promise<NodeIO> {
  io ??= MeshoptDecoder.ready.then(() =>
    new NodeIO()
      .setLogger(new Logger(Logger.Verbosity.ERROR))
      .registerExtensions(ALL_EXTENSIONS)
      .registerDependencies({ "meshopt.decoder": MeshoptDecoder }),
  );
  return io;
}
