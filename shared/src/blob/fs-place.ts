/**
 * Putting a trainer's file into the staging dir without reading its bytes on this thread: a
 * hard link, a rename, a copy-on-write clone, or a copy done by the kernel (copy_file_range,
 * what `cp` does). None of them hashes: the fs store hashes the staged file afterwards, on a
 * worker thread (hash-pool.ts).
 */
import { constants, linkSync, unlinkSync } from "node:fs";
import { copyFile, link, lstat, rename, unlink } from "node:fs/promises";
import type { Logger } from "../log.ts";
import {
  BlobExistsError,
  BlobSourceChangedError,
  type CheckedFile,
  type StagedHow,
  type StagingMode,
} from "./store.ts";

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
 * logged note) where they are impossible. Returns how it was done. With `checked`, copies read
 * the checked file itself, and a link or move that placed another file is undone (see
 * StageRequest.sameFile).
 */
export async function placeFile(
  src: string,
  dest: string,
  mode: StagingMode,
  logger: Logger,
  checked?: CheckedFile,
): Promise<StagedHow> {
  if (mode === "link") {
    try {
      await link(src, dest);
      await undoUnlessChecked(src, dest, checked, () => unlink(dest));
      return "link";
    } catch (err) {
      if (!NO_LINK.has(codeOf(err))) throw err;
      logger.warn({ path: src, code: codeOf(err) }, "blob staging: hard link impossible, copying instead");
    }
  } else if (mode === "move") {
    try {
      await rename(src, dest);
      await undoUnlessChecked(src, dest, checked, () => rename(dest, src));
      return "move";
    } catch (err) {
      if (codeOf(err) !== "EXDEV") throw err;
      logger.warn({ path: src }, "blob staging: source on another filesystem, moving by copy and unlink");
    }
  }
  return copyOrClone(checked?.readPath ?? src, dest);
}

/**
 * Undoes a link or move that placed another file than the checked one: the path was swapped
 * (a symlinked directory, a rename) after its check. Done before the blob's mode is changed.
 */
async function undoUnlessChecked(
  src: string,
  placed: string,
  checked: CheckedFile | undefined,
  undo: () => Promise<void>,
): Promise<void> {
  if (checked === undefined || (await isChecked(placed, checked))) return;
  await undo();
  throw new BlobSourceChangedError(`${src} changed after it was checked; nothing was staged`);
}

async function isChecked(path: string, checked: CheckedFile): Promise<boolean> {
  const st = await lstat(path, { bigint: true }).catch(() => undefined);
  return st !== undefined && st.dev === checked.dev && st.ino === checked.ino;
}

/**
 * Removes the source of a move done by copy. With `checked`, only while the path still is the
 * checked file: one swapped in meanwhile is not ours to remove, and is left where it is.
 */
export async function unlinkMoved(path: string, checked: CheckedFile | undefined): Promise<void> {
  if (checked !== undefined && !(await isChecked(path, checked))) return;
  await unlink(path).catch((err: unknown) => {
    if (codeOf(err) !== "ENOENT") throw err;
  });
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

/**
 * Gives the staged temp file `temp` its blob name `final`, unless a blob has that name already:
 * then BlobExistsError, and `temp` is left for the caller to remove (or put back). A hard link
 * then an unlink, not a rename, which would replace a blob whose event may be published.
 */
export async function commitBlob(temp: string, final: string, ref: string, sha256?: string): Promise<void> {
  try {
    await link(temp, final);
  } catch (err) {
    throw codeOf(err) === "EEXIST" ? new BlobExistsError(ref, sha256) : err;
  }
  await unlink(temp);
}

/** {@link commitBlob} with synchronous calls, for small blobs (see bounded-read.ts). */
export function commitBlobSync(temp: string, final: string, ref: string, sha256?: string): void {
  try {
    linkSync(temp, final);
  } catch (err) {
    throw codeOf(err) === "EEXIST" ? new BlobExistsError(ref, sha256) : err;
  }
  unlinkSync(temp);
}
