// One NodeIO for reading and writing glTF: every extension @gltf-transform knows (meshopt-compressed
// files decoded with meshoptimizer) but Draco, whose decoder is not shipped (a file that requires it
// is refused by name), warnings about optional extensions kept out of the job's log.
import { Logger, NodeIO } from "@gltf-transform/core";
import { ALL_EXTENSIONS } from "@gltf-transform/extensions";
import { MeshoptDecoder } from "meshoptimizer";

let io: Promise<NodeIO> | null = null;

export function gltfIO(): Promise<NodeIO> {
  io ??= MeshoptDecoder.ready.then(() =>
    new NodeIO()
      .setLogger(new Logger(Logger.Verbosity.ERROR))
      .registerExtensions(ALL_EXTENSIONS.filter((e) => e.EXTENSION_NAME !== "KHR_draco_mesh_compression"))
      .registerDependencies({ "meshopt.decoder": MeshoptDecoder }),
  );
  return io;
}
