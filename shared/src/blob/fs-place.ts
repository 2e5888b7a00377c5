/**
 * Putting a trainer's file into the staging dir without reading its bytes on this thread: a
 * hard link, a rename, a copy-on-write clone, or a copy done by the kernel (copy_file_range,
 * what `cp` does). None of them hashes: the fs store hashes the staged file afterwards, on a
 * worker thread (hash-pool.ts).
 */
import { constants } from "node:fs";
import { copyFile, link, rename, unlink } from "node:fs/promises";
import type { Logger } from "../log.ts";
import type { StagedHow, StagingMode } from "./store.ts";

// Errors for which a hard link is impossible here but a copy will do.
const NO_LINK = new Set(["EXDEV", "EPERM", "ENOTSUP", "EOPNOTSUPP", "EMLINK"]);
// Errors for which a clone is impossible here (the filesystem has no copy-on-write, or the two
// files are on different ones) but a copy will do.
const NO_CLONE = new Set(["ENOTSUP", "EOPNOTSUPP", "EXDEV", "EINVAL", "ENOSYS", "ENOTTY"]);

export function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? "";
}

/**
 * Puts `src` at the new path `dest` as `mode` asks; link and move fall back to a copy (with a
 * logged note) where they are impossible. Returns how it was done.
 */
export async function placeFile(src: string, dest: string, mode: StagingMode, logger: Logger): Promise<StagedHow> {
  if (mode === "link") {
    try {
      await link(src, dest);
      return "link";
    } catch (err) {
      if (!NO_LINK.has(codeOf(err))) throw err;
      logger.warn({ path: src, code: codeOf(err) }, "blob staging: hard link impossible, copying instead");
    }
  } else if (mode === "move") {
    try {
      await rename(src, dest);
      return "move";
    } catch (err) {
      if (codeOf(err) !== "EXDEV") throw err;
      logger.warn({ path: src }, "blob staging: source on another filesystem, moving by copy and unlink");
    }
  }
  return copyOrClone(src, dest);
}

/**
 * A copy-on-write clone where the filesystem can make one (btrfs, XFS; no bytes move), else a
 * copy by the kernel. COPYFILE_EXCL matters beyond safety: without it libuv truncates the new
 * file first, and on ext4 a file truncated to zero is flushed to disk when closed (auto_da_alloc),
 * which made a large copy take about twice as long as cp's.
 */
async function copyOrClone(src: string, dest: string): Promise<StagedHow> {
  try {
    await copyFile(src, dest, constants.COPYFILE_FICLONE_FORCE | constants.COPYFILE_EXCL);
    return "clone";
  } catch (err) {
    if (!NO_CLONE.has(codeOf(err))) throw err;
  }
  // libuv removes the destination of a failed clone; a leftover would make the copy fail EEXIST.
  await unlink(dest).catch(() => {});
  await copyFile(src, dest, constants.COPYFILE_EXCL);
  return "copy";
}
