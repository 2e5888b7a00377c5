/**
 * Files in the fs store's run dirs (`<dir>/<project>/<run>`), as every path through the store
 * handles them: a blob is written under a temp name beside its final one and committed under its
 * own name only when complete, so a reader never sees a partial blob. remove() and sweep()
 * delete run dirs that became empty, at any time: whatever writes into one creates it again.
 */
import { randomBytes } from "node:crypto";
import { closeSync, linkSync, mkdirSync, open as openCallback, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { link, lstat, mkdir, unlink } from "node:fs/promises";
import { join, sep } from "node:path";
import { parseBlobKey } from "../contract/blob-key.ts";
import { InvalidArtifactError } from "../contract/names.ts";
import { BlobExistsError, type BlobLocation } from "./store.ts";

/** Prefix of files being staged. Event ids never contain '.', so no blob can carry it. */
export const TEMP_PREFIX = ".tmp-";

/** The errno code of a failed fs call; "" for anything else. */
export function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? "";
}

// Unique across processes (a random part drawn once) and within one (a counter): randomBytes
// for every staging would cost a noticeable share of a small artifact's whole staging.
const TEMP_PROCESS = randomBytes(6).toString("hex");
let tempSeq = 0;

/** `.tmp-<id>-<process>-<n>`: several stagings of one event id (retries) never share a temp file. */
export function tempName(id: string): string {
  return `${TEMP_PREFIX}${id}-${TEMP_PROCESS}-${(++tempSeq).toString(36)}`;
}

/** Absolute path of the blob in the staging dir `dir`; throws InvalidArtifactError for a ref that is not a blob key. */
export function blobPath(dir: string, ref: BlobLocation): string {
  if (ref.store !== "fs") {
    throw new InvalidArtifactError(
      "blob.store",
      `a ${JSON.stringify(ref.store)} blob cannot be read from the fs store`,
    );
  }
  const { project, run, id } = parseBlobKey(ref.ref);
  const path = join(dir, project, run, id);
  // The key pattern already excludes '.', '/' and '\'; this guards against a future change to it.
  if (!path.startsWith(dir + sep)) {
    throw new InvalidArtifactError("blob.ref", `${JSON.stringify(ref.ref)} escapes the staging dir`);
  }
  return path;
}

/**
 * Runs `fn` after creating `runDir`. A concurrent remove() or sweep() may delete it between
 * mkdir and fn; then it is created again.
 */
export async function inRunDir<T>(runDir: string, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    await mkdir(runDir, { recursive: true });
    try {
      return await fn();
    } catch (err) {
      if (codeOf(err) !== "ENOENT" || attempt >= 3 || (await exists(runDir))) throw err;
    }
  }
}

/**
 * Writes `bytes` to a new read-only file at `path` in `runDir`, creating the dir if it is missing
 * (see {@link inRunDir}).
 */
export function writeInRunDirSync(runDir: string, path: string, bytes: Uint8Array): void {
  for (let attempt = 1; ; attempt++) {
    try {
      writeFileSync(path, bytes, { mode: 0o444, flag: "wx" });
      return;
    } catch (err) {
      if (codeOf(err) !== "ENOENT" || attempt >= 3) throw err;
      mkdirSync(runDir, { recursive: true });
    }
  }
}

/**
 * {@link writeInRunDirSync} for a body the event loop holds (a gateway PUT): the new file is
 * created on libuv's thread pool, the rest is synchronous. Creating a file is most of a small
 * blob's staging (ext4 here: 170-390 us of kernel time, against about 10 us for the write, the
 * link or the unlink); on the pool it overlaps other requests' network work on the second core
 * instead of stalling the loop (bench/RESULTS.md, "where the time goes", 2026-12-07).
 */
export async function writeInRunDir(runDir: string, path: string, bytes: Uint8Array): Promise<void> {
  let fd: number;
  for (let attempt = 1; ; attempt++) {
    try {
      fd = await openExclusive(path);
      break;
    } catch (err) {
      if (codeOf(err) !== "ENOENT" || attempt >= 3) throw err;
      mkdirSync(runDir, { recursive: true });
    }
  }
  try {
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
  } finally {
    closeSync(fd);
  }
}

/** Creates `path`, read-only from creation on (the descriptor returned still writes); EEXIST if anything is there. */
function openExclusive(path: string): Promise<number> {
  // The callback form: a FileHandle (fs/promises) costs more, and this one is closed at once.
  return new Promise((resolve, reject) =>
    openCallback(path, "wx", 0o444, (err, fd) => (err ? reject(err) : resolve(fd))),
  );
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

/** Unlinks a file; returns false if it was not there. */
export async function unlinkIfPresent(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if (codeOf(err) === "ENOENT") return false;
    throw err;
  }
}

/** {@link unlinkIfPresent} with a synchronous call, for small files (see bounded-read.ts). */
export function unlinkIfPresentSync(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (err) {
    if (codeOf(err) === "ENOENT") return false;
    throw err;
  }
}

/** Whether anything (a file, a dir, a dangling link) is at `path`. */
export async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}
