// A job's input after upload: a plain file is used as it is; an archive is extracted beside it
// (kept too) and its root file chosen: config.root_file, else params.filename when it names a
// file of the archive, else the shallowest 3D file (see root-file.ts).
import { join } from "node:path";
import { findFile } from "../sdk/find-file.ts";
import type { ArchiveLimits } from "./archive-extract.ts";
import { archiveKind } from "./archive-kind.ts";
import { invalidInput } from "./errors.ts";
import { chooseRootFile } from "./root-file.ts";

export interface InputRequest {
  /** The uploaded file's name inside `inputsDir`. */
  upload: string;
  /** config.root_file, when the user set it. */
  rootFile: string | null;
  /** params.filename, when params is an object with that string. */
  filenameParam: string | null;
}

export interface PreparedInput {
  /** For an archive: its root file, relative to the inputs folder; null when none was found. */
  rootFile: string | null;
  isArchive: boolean;
  warnings: string[];
}

function listed(files: readonly string[]): string {
  const shown = files.slice(0, 10).join(", ");
  return files.length > 10 ? `${shown}, ... (${files.length} files)` : shown || "no files";
}

export async function prepareInput(
  inputsDir: string,
  request: InputRequest,
  limits: ArchiveLimits,
): Promise<PreparedInput> {
  const kind = archiveKind(request.upload);
  if (kind === null) {
    const warnings = request.rootFile
      ? [`config.root_file is ignored: the input '${request.upload}' is not an archive`]
      : [];
    return { rootFile: null, isArchive: false, warnings };
  }
  // The extraction and its libraries are loaded with the first archive, not with the daemon.
  const { extractArchive } = await import("./archive-extract.ts");
  const { files } = await extractArchive(
    join(inputsDir, request.upload),
    kind,
    inputsDir,
    limits,
    request.upload,
  );
  const warnings: string[] = [];
  if (request.rootFile) {
    const found = findFile(files, request.rootFile);
    if ("path" in found) return { rootFile: found.path, isArchive: true, warnings };
    throw invalidInput(
      found.error === "ambiguous"
        ? `config.root_file '${request.rootFile}' matches several files of '${request.upload}': ${listed(found.candidates)}; give its path inside the archive`
        : `config.root_file '${request.rootFile}' is not a file of '${request.upload}' (it holds: ${listed(files)})`,
    );
  }
  if (request.filenameParam) {
    const found = findFile(files, request.filenameParam);
    if ("path" in found) return { rootFile: found.path, isArchive: true, warnings };
    warnings.push(
      `params.filename '${request.filenameParam}' is not a single file of '${request.upload}': the root file was chosen automatically`,
    );
  }
  const rootFile = chooseRootFile(files);
  if (rootFile === null) {
    warnings.push(
      `'${request.upload}' holds no file with a known 3D extension: set config.root_file to the file to open`,
    );
  }
  return { rootFile, isArchive: true, warnings };
}
