// Which uploads are archives, by name. Apart from archive-extract.ts so that what asks (the
// scheduler, the submission) does not load the extraction and its libraries (fflate, tar-stream),
// which are imported with the first archive.
export type ArchiveKind = "zip" | "tar" | "tar.gz";

/** The archive kind of an upload, by its name (any case); null for a plain file. */
export function archiveKind(fileName: string): ArchiveKind | null {
  const lower = fileName.toLowerCase();
  if (lower.endsWith(".zip")) return "zip";
  if (lower.endsWith(".tar.gz") || lower.endsWith(".tgz")) return "tar.gz";
  if (lower.endsWith(".tar")) return "tar";
  return null;
}
