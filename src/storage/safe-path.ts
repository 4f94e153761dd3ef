// The one place that turns user-supplied names into paths. Nothing user-supplied may become a path
// outside its folder (invariant 8): not with `..`, an absolute path, a NUL byte, or a symlink.
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readlinkSync,
  realpathSync,
  type Stats,
  statSync,
} from "node:fs";
import { basename, isAbsolute, resolve, sep } from "node:path";

export class UnsafePathError extends Error {}

/** A file that is there but not the job's own (isOwnFile, or a symlink): not served. */
export class NotOwnFileError extends Error {}

/** `relative` inside `base`, or an UnsafePathError. Symlinks are followed when the path exists. */
export function resolveInside(base: string, relative: string): string {
  if (relative === "" || relative.includes("\0") || isAbsolute(relative) || relative.includes("\\")) {
    throw new UnsafePathError(`Invalid file path '${relative}'`);
  }
  if (relative.split("/").some((part) => part === "..")) {
    throw new UnsafePathError(`Invalid file path '${relative}': '..' is not allowed`);
  }
  const root = resolve(base);
  const path = resolve(root, relative);
  if (!path.startsWith(root + sep)) throw new UnsafePathError(`Invalid file path '${relative}'`);
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return path; // does not exist (yet): the lexical check above is the whole answer
  }
  const realRoot = realpathSync(root);
  if (real !== realRoot && !real.startsWith(realRoot + sep)) {
    throw new UnsafePathError(`Invalid file path '${relative}': it leads outside its folder`);
  }
  return path;
}

/**
 * Whether a file met under a job's folder `root` is its own: a regular file with one name, on the
 * folder's file system. A hard link made there to a file elsewhere (the daemon's token, another
 * job's outputs) passes every path check above; its link count or device gives it away. Downloads,
 * the outputs listing and so the outputs zip skip what fails this.
 */
export function isOwnFile(file: Stats, root: Stats): boolean {
  return file.isFile() && file.nlink === 1 && file.dev === root.dev;
}

/**
 * Opens `path`, which resolveInside found inside `root`, and checks what was opened rather than
 * what the name meant a moment earlier: a job still running may swap the file, or a folder above
 * it, for a link to a file outside (the daemon's database, another job's outputs) between a check
 * by name and an open by name. The last name is not followed (O_NOFOLLOW), the open file's own
 * path (`/proc/self/fd`) must lie under `root`, and its stat must pass isOwnFile. A FIFO neither
 * blocks the open (O_NONBLOCK) nor passes as a file. Returns null when no regular file is there;
 * otherwise the caller closes `fd`.
 */
export function openOwnFile(root: string, path: string): { fd: number; info: Stats } | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ENXIO: a socket (or a FIFO's like) is no file to send.
    if (code === "ENOENT" || code === "ENOTDIR" || code === "ENXIO") return null;
    if (code === "ELOOP") throw new NotOwnFileError("it is a symbolic link");
    if (code === "EACCES") throw new NotOwnFileError("the daemon may not read it");
    throw error;
  }
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) {
      closeSync(fd);
      return null;
    }
    const realRoot = realpathSync(root);
    if (!readlinkSync(`/proc/self/fd/${fd}`).startsWith(realRoot + sep)) {
      throw new UnsafePathError("it leads outside its folder");
    }
    if (!isOwnFile(info, statSync(realRoot))) {
      throw new NotOwnFileError(
        "it has other names (a hard link, maybe to a file outside the job) or lies on another file system",
      );
    }
    return { fd, info };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/**
 * Reduces an uploaded file name to a safe base name: no folders, no control characters, no
 * leading dots, at most 200 bytes. Returns null when nothing usable is left.
 */
export function safeBaseName(name: string): string | null {
  const base = basename(name.replaceAll("\\", "/"))
    // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point.
    .replace(/[\u0000-\u001f\u007f]/g, "")
    .replace(/^[.\s]+/, "")
    .trim();
  if (base === "") return null;
  let cut = base;
  while (Buffer.byteLength(cut) > 200) cut = cut.slice(0, -1);
  return cut;
}
