/**
 * Placing a trainer's file in the fs store: checks that make a link or move safe, small files
 * copied whatever the mode, the file put in place without reading its bytes on this thread (a
 * hard link, a rename, a copy-on-write clone, or a copy done by the kernel: copy_file_range, what
 * `cp` does), and the staged file hashed afterwards on a worker thread (hash-pool.ts).
 */
import {
  chmodSync,
  constants,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  renameSync,
  unlinkSync,
  utimesSync,
} from "node:fs";
import { copyFile, lstat, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { blobKey } from "../contract/blob-key.ts";
import { InvalidArtifactError } from "../contract/names.ts";
import type { BlobRef } from "../contract/schema.ts";
import type { Logger } from "../log.ts";
import { digestOf, readSmallFileSync } from "./bounded-read.ts";
import { codeOf, commitBlobSync, inRunDir, tempName, unlinkIfPresent, writeInRunDirSync } from "./fs-run-dir.ts";
import { hashPool } from "./hash-pool.ts";
import {
  BlobExistsError,
  type BlobLocation,
  BlobSourceChangedError,
  type CheckedFile,
  type PlacedBlob,
  STAGING_MODES,
  type StagedHow,
  type StageRequest,
  type StagingMode,
} from "./store.ts";

const MODES: readonly StagingMode[] = STAGING_MODES;

// Errors for which a hard link is impossible here but a copy will do.
const NO_LINK = new Set(["EXDEV", "EPERM", "ENOTSUP", "EOPNOTSUPP", "EMLINK"]);
// Errors for which a clone is impossible here (the filesystem has no copy-on-write, or the two
// files are on different ones) but a copy will do.
const NO_CLONE = new Set(["ENOTSUP", "EOPNOTSUPP", "EXDEV", "EINVAL", "ENOSYS", "ENOTTY"]);

/**
 * Stages the trainer's file `req.path` into the staging dir `dir` as `req.mode` (else
 * `defaultMode`) asks, and resolves once the blob is in place under its own name; its digest
 * follows in `blob`. See FsBlobStore for what each mode asks of the trainer.
 */
export async function placeBlob(
  dir: string,
  req: StageRequest,
  defaultMode: StagingMode,
  logger: Logger,
): Promise<PlacedBlob> {
  const ref = blobKey(req.project, req.run, req.id);
  const location = { store: "fs", ref } as const;
  const mode = req.mode ?? defaultMode;
  if (!MODES.includes(mode)) {
    throw new InvalidArtifactError("mode", `${JSON.stringify(mode)} is not one of ${MODES.join(", ")}`);
  }
  const runDir = join(dir, req.project, req.run);
  const final = join(runDir, req.id);
  // Staged under a temp name and linked under its own at the end: a reader never sees a partial blob.
  const temp = join(runDir, tempName(req.id));
  let how: StagedHow | undefined;
  // Before the trainer's file is linked (and made read-only) or moved for nothing; committing
  // the blob below is what makes it exclusive.
  if (existsSync(final)) throw new BlobExistsError(ref);
  try {
    // A small file is copied whatever the mode: as cheap as a link, and safer.
    const small = readSmallFileSync(req.sameFile?.readPath ?? req.path);
    if (small) {
      writeInRunDirSync(runDir, temp, small);
      how = "copy";
      commitBlobSync(temp, final, ref);
      if (mode === "move") await unlinkMoved(req.path, req.sameFile);
      return { location, how, blob: Promise.resolve({ ...location, ...digestOf(small) }) };
    }
    // Metadata calls from here on are synchronous: microseconds each, where a call through the
    // thread pool waited for two wake-ups, milliseconds each on a loaded machine, six in a row
    // for a link (bench/RESULTS.md, "logFile right after the previous round's flush").
    how =
      placeInPlaceSync(runDir, req.path, temp, mode, logger, req.sameFile) ??
      (await inRunDir(runDir, () => copyOrClone(req.sameFile?.readPath ?? req.path, temp)));
    if (how === "link" || how === "move") {
      // Linked and moved files keep the trainer's mtime; sweep ages blobs from staging time.
      const now = new Date();
      utimesSync(temp, now, now);
    }
    chmodSync(temp, 0o444);
    commitBlobSync(temp, final, ref);
    if (mode === "move" && how !== "move") await unlinkMoved(req.path, req.sameFile);
  } catch (err) {
    // A moved file is the trainer's only copy: put it back rather than delete it.
    if (how === "move") {
      await rename(temp, req.path).catch((e) =>
        logger.error({ path: req.path, temp, err: e }, "blob staging failed; the moved file is left at temp"),
      );
    } else await unlinkIfPresent(temp).catch(() => {});
    throw err;
  }
  const blob = hashPlaced(location, final, how, req.path, req.onProgress);
  blob.catch(() => {}); // the caller may never look; it is told through `blob` if it does
  return { location, how, blob };
}

/**
 * Hashes a placed blob off the event loop. sha256 and size describe the staged file, never the
 * source while it was copied: the trainer may rewrite the source at any time. A blob that
 * cannot be hashed is removed, unless it was moved in: it is then the trainer's only copy.
 */
async function hashPlaced(
  location: BlobLocation,
  path: string,
  how: StagedHow,
  source: string,
  onProgress?: (bytesDone: number) => void,
): Promise<BlobRef> {
  try {
    // Started once the caller has its answer (the next turn of the event loop): waking the
    // hashing thread cost logFile 0.5–0.9 ms on a loaded machine, where the woken thread took
    // the core from the trainer's (bench/RESULTS.md, "logFile right after a flush").
    await new Promise((resolve) => setImmediate(resolve));
    return { store: "fs", ref: location.ref, ...(await hashPool.hashFile(path, onProgress)) };
  } catch (err) {
    if (how === "move") {
      throw new Error(
        `could not hash the blob at ${path} (${(err as Error).message}); the file moved from ${source} is kept there`,
        {
          cause: err,
        },
      );
    }
    await unlinkIfPresent(path).catch(() => {});
    throw err;
  }
}

/**
 * Puts `src` at the new path `dest` by a hard link or a rename, as `mode` asks, creating the run
 * dir if it is missing; undefined for copy mode, or where a link or move is impossible here (then
 * the caller copies; a logged note says why). With `checked`, a link or move that placed another
 * file is undone (see StageRequest.sameFile).
 */
function placeInPlaceSync(
  runDir: string,
  src: string,
  dest: string,
  mode: StagingMode,
  logger: Logger,
  checked?: CheckedFile,
): StagedHow | undefined {
  if (mode === "copy") return undefined;
  const place = mode === "link" ? () => linkSync(src, dest) : () => renameSync(src, dest);
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        place();
        break;
      } catch (err) {
        // A concurrent remove() or sweep() may have deleted the run dir: create it again.
        if (codeOf(err) !== "ENOENT" || attempt >= 3 || existsSync(runDir)) throw err;
        mkdirSync(runDir, { recursive: true });
      }
    }
  } catch (err) {
    if (mode === "link" && NO_LINK.has(codeOf(err))) {
      logger.warn({ path: src, code: codeOf(err) }, "blob staging: hard link impossible, copying instead");
      return undefined;
    }
    if (mode === "move" && codeOf(err) === "EXDEV") {
      logger.warn({ path: src }, "blob staging: source on another filesystem, moving by copy and unlink");
      return undefined;
    }
    throw err;
  }
  if (checked !== undefined && !isCheckedSync(dest, checked)) {
    if (mode === "link") unlinkSync(dest);
    else renameSync(dest, src);
    throw new BlobSourceChangedError(`${src} changed after it was checked; nothing was staged`);
  }
  return mode;
}

function isCheckedSync(path: string, checked: CheckedFile): boolean {
  const st = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  return st !== undefined && st.dev === checked.dev && st.ino === checked.ino;
}

async function isChecked(path: string, checked: CheckedFile): Promise<boolean> {
  const st = await lstat(path, { bigint: true }).catch(() => undefined);
  return st !== undefined && st.dev === checked.dev && st.ino === checked.ino;
}

/**
 * Removes the source of a move done by copy. With `checked`, only while the path still is the
 * checked file: one swapped in meanwhile is not ours to remove, and is left where it is.
 */
async function unlinkMoved(path: string, checked: CheckedFile | undefined): Promise<void> {
  if (checked !== undefined && !(await isChecked(path, checked))) return;
  await unlink(path).catch((err: unknown) => {
    if (codeOf(err) !== "ENOENT") throw err;
  });
}

/**
 * A copy-on-write clone where the filesystem can make one (btrfs, XFS; no bytes move), else a
 * copy by the kernel. COPYFILE_EXCL matters beyond safety: without it libuv truncates the new
 * file first, and on ext4 a file truncated to zero is flushed to disk when closed (auto_da_alloc),
 * which made a large copy much slower than cp's.
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
