// Writes uploaded files into a job's staging folder and makes them durable (fsync) before the
// submission is answered.
import { closeSync, fsyncSync, openSync } from "node:fs";
import { join } from "node:path";
import { safeBaseName } from "./safe-path.ts";

export class UploadError extends Error {}

/** Saves `file` as `<dir>/<safe name>` and fsyncs it; returns the stored name. */
export async function saveUpload(file: File, dir: string, field: string): Promise<string> {
  const name = safeBaseName(file.name);
  if (!name) throw new UploadError(`The '${field}' upload has no usable file name: send it with a file name`);
  const path = join(dir, name);
  await Bun.write(path, file);
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return name;
}
