/** The seam between staging (publisher side) and reading (uploader side) of blob bytes. */
import type { Readable } from "node:stream";
import type { BlobRef } from "../contract/schema.ts";
import type { BlobReader } from "./blob-reader.ts";

/** How the fs store puts a trainer's file into the staging directory. */
export const STAGING_MODES = ["copy", "link", "move"] as const;
export type StagingMode = (typeof STAGING_MODES)[number];

export interface StageRequest {
  /** The trainer's file. */
  path: string;
  project: string;
  run: string;
  /** Event id; staged blobs are named after it so an orphan can be traced to its event. */
  id: string;
  /** fs store only; default `copy` (copy-on-write clone where the filesystem supports it). */
  mode?: StagingMode;
  /**
   * fs store: the file at `path` as the caller opened and checked it (the gateway does, for a file
   * named by a client). Copies read it through `readPath` (its open descriptor), and a link or move
   * of `path` that did not place this very file (dev and ino) is undone and fails with
   * BlobSourceChangedError: a path swapped after the check never stages, links or moves another file.
   */
  sameFile?: CheckedFile;
  /**
   * Told the bytes staged so far as they are hashed (fs: the pass over the staged copy; nats:
   * as chunks are sent). Not called for files small enough to stage in one step.
   */
  onProgress?: (bytesDone: number) => void;
}

/** A file its opener checked: where to read that very file, and its identity. */
export interface CheckedFile {
  /** A path that opens the checked file itself (`/proc/self/fd/<n>`), not whatever is at its path now. */
  readPath: string;
  /** As `fstat(…, { bigint: true })` gives them: inode numbers may not fit a double. */
  dev: bigint;
  ino: bigint;
}

/** Bytes that arrive as a stream (an HTTP body) rather than as a trainer's file. */
export interface StageStreamRequest {
  project: string;
  run: string;
  /** Event id; the blob is named after it. */
  id: string;
  /**
   * Lowercase hex sha256 the bytes must have (a client's Content-Digest). On a mismatch the
   * bytes are removed and BlobDigestMismatchError is thrown: nothing is left staged.
   */
  expectedSha256?: string;
  /**
   * The length the source announced (an HTTP Content-Length), if any. The fs store buffers a
   * body of at most 64 KiB and writes it with synchronous calls, as it copies small files.
   */
  sizeHint?: number;
  /**
   * The source's chunks are the store's to free once written: nothing reads them afterwards (an
   * HTTP request body's). The fs store then gives each chunk's memory back at once instead of
   * leaving it to the garbage collector (see releasing-writer.ts). Never for chunks a caller
   * keeps: a released chunk is emptied.
   */
  releaseChunks?: boolean;
}

/** Where staged bytes are: enough to find or remove them, not to check them. */
export type BlobLocation = Pick<BlobRef, "store" | "ref">;

/** Told an old blob the sweeper is about to remove: true keeps it. */
export type SweepGuard = (blob: BlobLocation) => Promise<boolean>;

/** How staged bytes got into the store: a hard link, a rename, a copy-on-write clone, a copy. */
export type StagedHow = "link" | "move" | "clone" | "copy";

/**
 * Bytes placed in a store and immutable from then on, whose sha256 may still be being computed:
 * what a trainer waits for before it goes on (see {@link BlobStore.place}).
 */
export interface PlacedBlob {
  location: BlobLocation;
  how: StagedHow;
  /**
   * The blob with its sha256 and size, once hashed (on a worker thread for large fs blobs). If
   * hashing fails it rejects, and the staged bytes are removed (a moved file is kept, and the
   * error says where). It never becomes an unhandled rejection when nobody awaits it.
   */
  blob: Promise<BlobRef>;
}

export interface BlobStore {
  readonly kind: BlobRef["store"];
  /** Stages the bytes and hashes them; the result is immutable. `place` then `blob`. */
  stage(req: StageRequest): Promise<BlobRef>;
  /**
   * Stages the bytes and resolves once they are immutable in the store, leaving the hash to be
   * computed after: in link, move and clone modes that is a few metadata calls, whatever the
   * size. Errors that make staging impossible (a missing file, a bad key or mode) reject here.
   */
  place(req: StageRequest): Promise<PlacedBlob>;
  /**
   * Stages the bytes of `source`, hashing them as they are written under a temporary name; they
   * appear under the blob's name only once complete and checked. If `source` fails (a client
   * that went away) or the digest differs, nothing is left staged and the error is rethrown.
   */
  stageStream(source: Readable, req: StageStreamRequest): Promise<BlobRef>;
  /** Opens the staged bytes. Throws BlobMissingError if they are gone. */
  open(ref: BlobRef): Promise<Readable>;
  /**
   * Reads the staged bytes whole, for blobs small enough to hold in memory. Reads at most
   * `ref.size + 1` bytes, so a blob longer than its event says shows without being read to its
   * end. Throws BlobMissingError if they are gone; `signal` aborts a read that waits on a server.
   */
  read(ref: BlobRef, signal?: AbortSignal): Promise<Buffer>;
  /**
   * Opens the staged bytes for reads into the caller's buffers. Throws BlobMissingError if they
   * are gone; `signal` aborts a read that waits on a server.
   */
  openReader(ref: BlobRef, signal?: AbortSignal): Promise<BlobReader>;
  /** Local filesystem path of the staged bytes, if the store keeps them in one. */
  localPath(ref: BlobLocation): string | undefined;
  /** Removes staged bytes (`size`, when known, lets a store remove a small blob more cheaply); removing a missing blob is not an error. */
  remove(ref: BlobLocation & { size?: number }): Promise<void>;
  /**
   * Removes blobs staged longer ago than `olderThanMs`, except those `keep` says are still
   * needed (a dead event's, for its replay); returns how many it removed. An error of `keep`
   * ends the sweep with it: a blob is never removed on a guess.
   */
  sweep(olderThanMs: number, keep?: SweepGuard): Promise<number>;
  /** Whether the staged bytes are still there. */
  exists(ref: BlobLocation): Promise<boolean>;
  close(): Promise<void>;
}

export class BlobMissingError extends Error {
  override name = "BlobMissingError";
}

/** The streamed bytes do not have the sha256 the caller expected; nothing was staged. */
export class BlobDigestMismatchError extends Error {
  override name = "BlobDigestMismatchError";
  readonly expected: string;
  readonly actual: string;
  constructor(expected: string, actual: string) {
    super(`the bytes have sha256 ${actual}, not the expected ${expected}`);
    this.expected = expected;
    this.actual = actual;
  }
}

/** Another file than the one checked was found at the path while staging it; nothing was staged. */
export class BlobSourceChangedError extends Error {
  override name = "BlobSourceChangedError";
}

/**
 * The blob of this event id is staged already: a blob, once staged, is never replaced (its event
 * may be published, and its sha256 with it). Nothing new was left staged.
 */
export class BlobExistsError extends Error {
  override name = "BlobExistsError";
  /** sha256 of the bytes that were not staged, when they were hashed before the clash. */
  readonly sha256: string | undefined;
  constructor(ref: string, sha256?: string) {
    super(`blob ${ref} is staged already; it is never replaced`);
    this.sha256 = sha256;
  }
}
