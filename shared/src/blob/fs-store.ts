/**
 * Blob store on a staging directory shared by trainers and uploaders (NFS, a local disk on a
 * single host, ...). A blob is the file `<dir>/<project>/<run>/<event id>`, read-only once staged
 * and never replaced: staging an event id twice fails with BlobExistsError.
 */
import { randomBytes } from "node:crypto";
import { type Dirent, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { chmod, lstat, mkdir, open, readdir, rename, rmdir, unlink, utimes } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import type { Readable } from "node:stream";
import { InvalidArtifactError } from "../event/names.ts";
import type { BlobRef } from "../event/schema.ts";
import { type Logger, silentLogger } from "../log.ts";
import { blobKey, parseBlobKey } from "./blob-key.ts";
import { type BlobReader, fileReader, readWhole } from "./blob-reader.ts";
import { digestOf, readHeadSync, readSmallFileSync, SMALL_FILE_BYTES } from "./bounded-read.ts";
import { codeOf, commitBlob, commitBlobSync, placeFile, unlinkMoved } from "./fs-place.ts";
import { STREAM_TEMP_SUFFIX, sweepStreamTemps, writeHashed } from "./fs-stream.ts";
import { type Digest, readBufferBytes } from "./hash.ts";
import { hashPool } from "./hash-pool.ts";
import {
  BlobDigestMismatchError,
  BlobExistsError,
  type BlobLocation,
  BlobMissingError,
  type BlobStore,
  type PlacedBlob,
  type StagedHow,
  type StageRequest,
  type StageStreamRequest,
  type StagingMode,
  type SweepGuard,
} from "./store.ts";

/** Prefix of files being staged. Event ids never contain '.', so no blob can carry it. */
export const TEMP_PREFIX = ".tmp-";
const MODES: readonly StagingMode[] = ["copy", "link", "move"];

export interface FsBlobStoreOptions {
  /** Mode for requests that name none; default `copy`. */
  defaultMode?: StagingMode;
  /** Receives notes such as a link or move falling back to a copy. */
  logger?: Logger;
}

/**
 * Staging modes and what they ask of the trainer:
 * - `copy` (default): a copy-on-write clone where the filesystem supports it (btrfs, XFS), a copy
 *   by the kernel elsewhere (copy_file_range, as `cp`). The trainer may then delete or rewrite its
 *   file freely.
 * - `link`: a hard link, so no bytes move. The blob IS the trainer's file (same inode), so the
 *   trainer must replace the file by writing a new path and renaming (what `torch.save` to a new
 *   path does), never rewrite it in place: not before the blob is hashed, which changes what is
 *   logged, nor after, which makes the upload fail its sha256 check. The shared inode also becomes
 *   read-only and gets the staging time as mtime, which turns an accidental in-place rewrite (by
 *   a user other than root) into EACCES. Falls back to `copy` (with a logged note) across
 *   filesystems.
 * - `move`: the trainer's file is renamed into the staging dir and is gone afterwards; falls
 *   back to copy, then unlink of the source, across filesystems.
 *
 * Files up to SMALL_FILE_BYTES (64 KiB) are copied in every mode (and the source unlinked for
 * `move`), with synchronous calls: as cheap as a link at that size, and see bounded-read.ts.
 *
 * sha256 and size always describe the staged file, read once after it is in place (on a worker
 * thread, after {@link FsBlobStore.place} returned), never the source while it is copied: the
 * trainer may rewrite the source at any time.
 */
export class FsBlobStore implements BlobStore {
  readonly kind = "fs" as const;
  /** Absolute path of the staging directory. */
  readonly dir: string;
  /** Mode for requests that name none. */
  readonly defaultMode: StagingMode;
  private readonly logger: Logger;

  constructor(dir: string, options: FsBlobStoreOptions = {}) {
    this.dir = resolve(dir);
    this.defaultMode = options.defaultMode ?? "copy";
    this.logger = options.logger ?? silentLogger;
  }

  async stage(req: StageRequest): Promise<BlobRef> {
    return (await this.place(req)).blob;
  }

  async place(req: StageRequest): Promise<PlacedBlob> {
    const ref = blobKey(req.project, req.run, req.id);
    const location = { store: "fs", ref } as const;
    const mode = req.mode ?? this.defaultMode;
    if (!MODES.includes(mode)) {
      throw new InvalidArtifactError("mode", `${JSON.stringify(mode)} is not one of ${MODES.join(", ")}`);
    }
    const runDir = join(this.dir, req.project, req.run);
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
      how = await this.inRunDir(runDir, () => placeFile(req.path, temp, mode, this.logger, req.sameFile));
      if (how === "link" || how === "move") {
        // Linked and moved files keep the trainer's mtime; sweep ages blobs from staging time.
        const now = new Date();
        await utimes(temp, now, now);
      }
      await chmod(temp, 0o444);
      await commitBlob(temp, final, ref);
      if (mode === "move" && how !== "move") await unlinkMoved(req.path, req.sameFile);
    } catch (err) {
      // A moved file is the trainer's only copy: put it back rather than delete it.
      if (how === "move") {
        await rename(temp, req.path).catch((e) =>
          this.logger.error({ path: req.path, temp, err: e }, "blob staging failed; the moved file is left at temp"),
        );
      } else await unlinkIfPresent(temp).catch(() => {});
      throw err;
    }
    const blob = this.hashPlaced(location, final, how, req.path, req.onProgress);
    blob.catch(() => {}); // the caller may never look; it is told through `blob` if it does
    return { location, how, blob };
  }

  /**
   * Hashes a placed blob off the event loop. sha256 and size describe the staged file, never the
   * source while it was copied: the trainer may rewrite the source at any time. A blob that
   * cannot be hashed is removed, unless it was moved in: it is then the trainer's only copy.
   */
  private async hashPlaced(
    location: BlobLocation,
    path: string,
    how: StagedHow,
    source: string,
    onProgress?: (bytesDone: number) => void,
  ): Promise<BlobRef> {
    try {
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

  async stageStream(source: Readable, req: StageStreamRequest): Promise<BlobRef> {
    const ref = blobKey(req.project, req.run, req.id);
    const runDir = join(this.dir, req.project, req.run);
    const temp = join(runDir, `${tempName(req.id)}${STREAM_TEMP_SUFFIX}`);
    try {
      let digest: Digest;
      if (req.sizeHint !== undefined && req.sizeHint <= SMALL_FILE_BYTES) {
        // A few synchronous calls cost a small body less than a stream's many asynchronous ones.
        const chunks: Buffer[] = [];
        for await (const chunk of source as AsyncIterable<Buffer>) chunks.push(chunk);
        const bytes = Buffer.concat(chunks);
        digest = digestOf(bytes);
        if (req.expectedSha256 !== undefined && digest.sha256 !== req.expectedSha256) {
          throw new BlobDigestMismatchError(req.expectedSha256, digest.sha256);
        }
        writeInRunDirSync(runDir, temp, bytes);
        commitBlobSync(temp, join(runDir, req.id), ref, digest.sha256);
        return { store: "fs", ref, size: digest.size, sha256: digest.sha256 };
      }
      // Read-only from creation on; the descriptor opened here still writes.
      const out = await this.inRunDir(runDir, () => open(temp, "wx", 0o444));
      digest = await writeHashed(source, out, req.expectedSha256);
      await commitBlob(temp, join(runDir, req.id), ref, digest.sha256);
      return { store: "fs", ref, size: digest.size, sha256: digest.sha256 };
    } catch (err) {
      source.destroy();
      await unlinkIfPresent(temp).catch(() => {});
      throw err;
    }
  }

  /**
   * Removes temp files of streamed stagings (stageStream) that nothing wrote to for `idleMs`:
   * what a client that vanished mid-body, or a process killed while receiving one, left behind.
   * The full {@link sweep} only removes temp files after the blobs' own age.
   */
  sweepAbandonedStreams(idleMs: number): Promise<number> {
    return sweepStreamTemps(this.dir, idleMs, (name) => name.startsWith(TEMP_PREFIX));
  }

  /**
   * Runs `fn` after creating `runDir`. remove() and sweep() delete run dirs that became empty,
   * so a concurrent one may delete ours between mkdir and fn; then we create it again.
   */
  private async inRunDir<T>(runDir: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      await mkdir(runDir, { recursive: true });
      try {
        return await fn();
      } catch (err) {
        if (codeOf(err) !== "ENOENT" || attempt >= 3 || (await exists(runDir))) throw err;
      }
    }
  }

  async open(ref: BlobRef): Promise<Readable> {
    const path = this.localPath(ref);
    try {
      // Opening (not stat-ing) first: no window in which the blob can vanish unnoticed.
      const file = await open(path, "r");
      return file.createReadStream({ highWaterMark: readBufferBytes(ref.size) });
    } catch (err) {
      throw this.missingOr(ref, err);
    }
  }

  async read(ref: BlobRef): Promise<Buffer> {
    const path = this.localPath(ref);
    try {
      if (ref.size <= SMALL_FILE_BYTES) return readHeadSync(path, ref.size + 1);
      return await readWhole(fileReader(await open(path, "r")), ref.size + 1);
    } catch (err) {
      throw this.missingOr(ref, err);
    }
  }

  async openReader(ref: BlobRef): Promise<BlobReader> {
    const path = this.localPath(ref);
    try {
      return fileReader(await open(path, "r"));
    } catch (err) {
      throw this.missingOr(ref, err);
    }
  }

  private missingOr(ref: BlobRef, err: unknown): unknown {
    if (codeOf(err) !== "ENOENT") return err;
    return new BlobMissingError(
      `blob fs:${ref.ref} is missing from staging dir ${this.dir} (removed, swept, or staged on another host's disk)`,
      { cause: err },
    );
  }

  /** Absolute path of the blob; throws InvalidArtifactError for a ref that is not a blob key. */
  localPath(ref: BlobLocation): string {
    if (ref.store !== "fs") {
      throw new InvalidArtifactError(
        "blob.store",
        `a ${JSON.stringify(ref.store)} blob cannot be read from the fs store`,
      );
    }
    const { project, run, id } = parseBlobKey(ref.ref);
    const path = join(this.dir, project, run, id);
    // The key pattern already excludes '.', '/' and '\'; this guards against a future change to it.
    if (!path.startsWith(this.dir + sep)) {
      throw new InvalidArtifactError("blob.ref", `${JSON.stringify(ref.ref)} escapes the staging dir`);
    }
    return path;
  }

  /** Unlinks the blob. Empty run dirs are left to the sweep: pruning on every remove costs a syscall per upload. */
  async remove(ref: BlobLocation): Promise<void> {
    await unlinkIfPresent(this.localPath(ref));
  }

  async exists(ref: BlobLocation): Promise<boolean> {
    return exists(this.localPath(ref));
  }

  /**
   * Deletes blobs whose mtime (the staging time) is older than `olderThanMs` unless `keep` holds
   * them, and temp files of crashed stagings. A temp file is aged by ctime: a linked or moved one
   * still carries the trainer's old mtime while its staging is in progress. Returns the number
   * of blobs deleted.
   */
  async sweep(olderThanMs: number, keep?: SweepGuard): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    for (const project of await subdirs(this.dir)) {
      for (const run of await subdirs(join(this.dir, project))) {
        const runDir = join(this.dir, project, run);
        for (const entry of await list(runDir)) {
          if (!entry.isFile()) continue;
          const path = join(runDir, entry.name);
          const temp = entry.name.startsWith(TEMP_PREFIX);
          const st = await lstat(path).catch(() => undefined);
          if (!st || (temp ? Math.max(st.ctimeMs, st.mtimeMs) : st.mtimeMs) >= cutoff) continue;
          if (!temp && keep && (await keep({ store: "fs", ref: `${project}/${run}/${entry.name}` }))) continue;
          if ((await unlinkIfPresent(path)) && !temp) removed++;
        }
        await this.prune(project, run);
      }
    }
    return removed;
  }

  /** Removes the run dir and then the project dir if they are empty; best effort. */
  private async prune(project: string, run: string): Promise<void> {
    for (const dir of [join(this.dir, project, run), join(this.dir, project)]) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty (the usual case), gone already, or not ours to remove
      }
    }
  }

  async close(): Promise<void> {}
}

// Unique across processes (a random part drawn once) and within one (a counter): a random
// suffix per staging cost 20 us of randomBytes, a tenth of a small artifact's whole staging.
const TEMP_PROCESS = randomBytes(6).toString("hex");
let tempSeq = 0;

/** `.tmp-<id>-<process>-<n>`: several stagings of one event id (retries) never share a temp file. */
function tempName(id: string): string {
  return `${TEMP_PREFIX}${id}-${TEMP_PROCESS}-${(++tempSeq).toString(36)}`;
}

/**
 * Writes `bytes` to a new read-only file at `path` in `runDir`, creating the dir if it is missing:
 * remove() and sweep() delete run dirs that became empty, at any time.
 */
function writeInRunDirSync(runDir: string, path: string, bytes: Uint8Array): void {
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

/** Unlinks a file; returns false if it was not there. */
async function unlinkIfPresent(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if (codeOf(err) === "ENOENT") return false;
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

async function list(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (codeOf(err) === "ENOENT" || codeOf(err) === "ENOTDIR") return [];
    throw err;
  }
}

async function subdirs(dir: string): Promise<string[]> {
  return (await list(dir)).filter((e) => e.isDirectory()).map((e) => e.name);
}
