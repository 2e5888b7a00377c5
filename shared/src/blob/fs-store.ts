/**
 * Blob store on a staging directory shared by trainers and uploaders (NFS, a local disk on a
 * single host, ...). A blob is the file `<dir>/<project>/<run>/<event id>`, read-only once staged
 * and never replaced: staging an event id twice fails with BlobExistsError.
 *
 * FsBlobStore only composes what each of its jobs needs: placing a trainer's file (fs-place.ts),
 * staging a stream (fs-stream.ts), reading (fs-read.ts) and sweeping (fs-sweep.ts), all over the
 * run-dir conventions of fs-run-dir.ts.
 */
import { resolve } from "node:path";
import type { Readable } from "node:stream";
import type { BlobRef } from "../contract/schema.ts";
import { type Logger, silentLogger } from "../log.ts";
import type { BlobReader } from "./blob-reader.ts";
import { SMALL_FILE_BYTES } from "./bounded-read.ts";
import { placeBlob } from "./fs-place.ts";
import { openBlobReader, openBlobStream, readBlob } from "./fs-read.ts";
import { blobPath, exists, unlinkIfPresent, unlinkIfPresentSync } from "./fs-run-dir.ts";
import { stageStreamInDir } from "./fs-stream.ts";
import { sweepBlobs, sweepStreamTemps } from "./fs-sweep.ts";
import type {
  BlobLocation,
  BlobStore,
  PlacedBlob,
  StageRequest,
  StageStreamRequest,
  StagingMode,
  SweepGuard,
} from "./store.ts";

export { TEMP_PREFIX } from "./fs-run-dir.ts";

/** Options of {@link FsBlobStore}. */
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
    return placeBlob(this.dir, req, this.defaultMode, this.logger);
  }

  async stageStream(source: Readable, req: StageStreamRequest): Promise<BlobRef> {
    return stageStreamInDir(this.dir, source, req);
  }

  /**
   * Removes temp files of streamed stagings (stageStream) that nothing wrote to for `idleMs`:
   * what a client that vanished mid-body, or a process killed while receiving one, left behind.
   * The full {@link sweep} only removes temp files after the blobs' own age.
   */
  sweepAbandonedStreams(idleMs: number): Promise<number> {
    return sweepStreamTemps(this.dir, idleMs);
  }

  async open(ref: BlobRef): Promise<Readable> {
    return openBlobStream(this.dir, ref);
  }

  async read(ref: BlobRef): Promise<Buffer> {
    return readBlob(this.dir, ref);
  }

  async openReader(ref: BlobRef): Promise<BlobReader> {
    return openBlobReader(this.dir, ref);
  }

  /** Absolute path of the blob; throws InvalidArtifactError for a ref that is not a blob key. */
  localPath(ref: BlobLocation): string {
    return blobPath(this.dir, ref);
  }

  /**
   * Unlinks the blob; a small one (its size known) with a synchronous call, as it is read (a
   * thread-pool round trip costs more than the unlink). Empty run dirs are left to the sweep:
   * pruning on every remove costs a syscall per upload.
   */
  async remove(ref: BlobLocation & { size?: number }): Promise<void> {
    const path = this.localPath(ref);
    if (ref.size !== undefined && ref.size <= SMALL_FILE_BYTES) unlinkIfPresentSync(path);
    else await unlinkIfPresent(path);
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
    return sweepBlobs(this.dir, olderThanMs, keep);
  }

  async close(): Promise<void> {}
}
