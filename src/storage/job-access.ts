// What the job user (JOB_USER) may reach of a job folder. The folder stays the daemon's: the job
// can never rename or replace job.log or archives/, which the daemon writes. It is closed (0700)
// except while one of its attempts runs; then its group is the job's and it is 0750, so the job
// reads its script and inputs through the group, and it owns outputs/.
import { chmodSync, lchownSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";

export interface JobOwner {
  uid: number;
  gid: number;
}

/**
 * Gives a tree to `uid` (-1: keep each owner) and `gid`: links themselves, never what they point
 * to; the top last, so a top that already has them means an earlier attempt gave the whole tree.
 * Safe to walk only while the job folder is closed: no job process can swap a folder for a link.
 */
function giveTree(top: string, uid: number, gid: number): void {
  const stat = lstatSync(top, { throwIfNoEntry: false });
  if (!stat?.isDirectory() || ((uid === -1 || stat.uid === uid) && stat.gid === gid)) return;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      lchownSync(path, uid, gid);
    }
  };
  walk(top);
  lchownSync(top, uid, gid);
}

/** Opens the folder to the attempt about to start as `owner` (throws when the folder is gone). */
export function openJobFolder(dir: string, owner: JobOwner): void {
  giveTree(join(dir, "script"), -1, owner.gid);
  giveTree(join(dir, "inputs"), -1, owner.gid);
  giveTree(join(dir, "outputs"), owner.uid, owner.gid);
  lchownSync(dir, -1, owner.gid);
  chmodSync(dir, 0o750);
}

/** Closes it again once the attempt's processes are gone; a folder already removed is fine. */
export function closeJobFolder(dir: string): void {
  try {
    chmodSync(dir, 0o700);
  } catch {
    // removed meanwhile (cleanup, by hand): nothing left to close
  }
}
