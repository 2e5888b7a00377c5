/**
 * The one seam every backend implements. An adapter knows how to put bytes somewhere and how
 * to classify its own failures; it knows nothing of NATS, retries, breakers, leases or ledgers.
 */
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import type { BlobReader } from "../blob/blob-reader.ts";
import type { DestinationConfig } from "../config/config.ts";
import type { ArtifactEventV1 } from "../contract/schema.ts";

/** How {@link Artifact.openReader} reads. */
export interface ReadOptions {
  /** Default true: check the bytes against the event's sha256 and size. */
  verify?: boolean;
  /** Hash on a hashing thread whatever the size (default: by size and cores). */
  offThread?: boolean;
}

/** One artifact version as handed to an adapter. */
export interface Artifact {
  readonly event: ArtifactEventV1;
  /** JetStream stream sequence of the event: orders versions of one key. */
  readonly streamSeq: number;
  /**
   * Reads the staged bytes whole, verified (PermanentError on a mismatch); for blobs an adapter
   * is willing to hold in memory (S3: below one multipart part); cheaper than a reader for small
   * blobs. `signal` aborts a read that waits (a blob in the NATS object store).
   */
  read(signal: AbortSignal): Promise<Buffer>;
  /**
   * Opens the staged bytes for reads into the adapter's own buffers (see BlobReader), verified:
   * the fill() that reaches the end checks them against the event and throws PermanentError on
   * a mismatch, as does any fill() past the event's size. `signal` aborts a read that waits.
   *
   * `offThread: true` hashes on a hashing thread whatever the blob's size and the host's cores:
   * for a pass whose own thread has other work on the same bytes (W&B's MD5s), so both digests
   * run at once.
   *
   * `verify: false` skips the sha256 check, only for a pass that sends bytes a verified pass
   * already read, to a remote that checks them against digests that pass computed and refuses
   * a mismatch (W&B: storage checks Content-MD5). The adapter treats that refusal as a blob that
   * may have changed since: it reads the blob verified again, and fails permanently only if the
   * sha256 no longer matches. Each byte is then hashed with sha256 once, in one read.
   */
  openReader(signal: AbortSignal, options?: ReadOptions): Promise<BlobReader>;
}

/**
 * What an adapter saves to resume an upload later: small JSON (an upload id, the parts done, a
 * temp path), kept well under NATS's max payload. Each adapter defines and checks its own shape.
 */
export type ResumeState = { readonly [field: string]: unknown };

/**
 * Resume state of one event at one destination, kept in the ledger (`resume.<dest>.<key hash>`,
 * docs/contract.md) so the next attempt of the same event, on any replica, continues where this
 * one stopped. Writes are fenced by the key's lease: an attempt that lost its lease never
 * overwrites what a newer attempt saved.
 */
export interface UploadResume {
  /** What the last attempt of this event at this destination saved, if any. One ledger read. */
  load(): Promise<ResumeState | undefined>;
  /**
   * What an older version of the same key saved, found by load(): that version is superseded (the
   * key's fence passed it) and never resumes, so the adapter may clean up what it names (abort
   * its S3 multipart upload). Undefined when there is none, or before load().
   */
  abandoned(): ResumeState | undefined;
  /**
   * Replaces the saved state. Cheap to call after every part: writes are coalesced (one in
   * flight, at most a few a second), so the latest state may land a moment later or, if the
   * process dies first, not at all. Resolves once this state (or a later one) is written or given
   * up (NATS away, lease no longer sure); never rejects. A newer attempt's record aborts the upload.
   */
  save(state: ResumeState): Promise<void>;
}

export interface UploadContext {
  /** Aborted on shutdown past the grace period, or when the lease is lost. */
  readonly signal: AbortSignal;
  /** Reports progress during long uploads (bytes sent so far). Cheap to call often. */
  heartbeat(bytesDone?: number): void;
  /**
   * Call right before the step that makes the upload visible (S3 CompleteMultipartUpload or the
   * single PUT, the final rename, the W&B commit), and make nothing visible if it throws. It
   * resolves once this upload's lease on its key is sure to hold for a while yet; otherwise it
   * aborts `signal` and throws: another replica may be writing a newer version of the key.
   */
  beforeVisible(): Promise<void>;
  /** 1 on the first delivery. */
  readonly attempt: number;
  readonly log: Logger;
  /**
   * Saved state of earlier attempts of this event, for uploads worth resuming (multipart, long
   * writes). Absent where the runtime keeps none (tests that call an adapter directly).
   */
  readonly resume?: UploadResume;
}

export interface UploadReceipt {
  /** Where the bytes landed, e.g. `s3://bucket/key` or `sftp://host/path`. */
  readonly location: string;
  readonly size: number;
  /** Backend-specific facts worth keeping in the ledger (version id, etag, ...). */
  readonly details?: Record<string, string>;
}

/** Bytes `first` to `last` of an object, inclusive, as an HTTP Range names them. */
export interface ByteRange {
  first: number;
  last: number;
}

/** An object read back from a destination. */
export interface RemoteContent {
  /** The bytes: the whole object, or `range` of it. The caller consumes or destroys it. */
  body: Readable;
  /** Size of the whole object. */
  size: number;
  /** The part `body` holds, when a range was asked for. */
  range?: ByteRange;
  /** sha256 (hex) of the whole object, where the destination keeps it (S3: object metadata). */
  sha256?: string;
}

/** How {@link Destination.openRead} reads. */
export interface RemoteReadOptions {
  /**
   * Name the sha256 of the whole object in `RemoteContent.sha256` even where the destination
   * keeps none (SFTP, dir): the adapter then hashes the object through the same open file it
   * serves from, before it resolves, so the digest is that of the bytes served even if a newer
   * version is renamed over it meanwhile. Costs a read of the whole object; the gateway asks only
   * when the ledger cannot tell which version the location holds.
   */
  sha256?: boolean;
}

/** The object at a location is not there (deleted, or never written). */
export class RemoteNotFoundError extends Error {
  override name = "RemoteNotFoundError";
}

/** A configured upload target, e.g. `s3:main`. */
export interface Destination {
  /** Full destination name, `<kind>:<name>`. */
  readonly name: string;
  /**
   * What this event is written to, as the destination sees it: the rendered path or key, the
   * W&B artifact name. Versions with one order key are uploaded one at a time across replicas,
   * in stream order, and an older one never after a newer one. Throws PermanentError when the
   * event cannot be written at all (its path would be invalid).
   */
  orderKey(event: ArtifactEventV1): string;
  /**
   * Whether versions waiting behind a newer one of their key may be skipped when the config does
   * not say (`coalesce`). Default true; false where every event is a visible version (W&B).
   */
  readonly coalesceByDefault?: boolean;
  /**
   * Whether a new version under an order key leaves the older ones readable where they landed
   * (W&B artifact versions), rather than replacing their bytes (a path, a key). Default false.
   * A set's member then cannot be overwritten by a file logged outside its set.
   */
  readonly keepsVersions?: boolean;
  /**
   * Puts the artifact under its final name atomically: no reader sees partial bytes.
   * Throws TransientError or PermanentError; cleans up its own partial remote state.
   */
  upload(artifact: Artifact, ctx: UploadContext): Promise<UploadReceipt>;
  /** Cheap reachability check used by the breaker's half-open state. Throws when down. */
  probe(signal: AbortSignal): Promise<void>;
  /**
   * Optional housekeeping the runtime runs at start and then hourly: remove partial remote
   * state (multipart uploads, temp files) that crashed uploaders left and that is older than
   * `olderThanMs`, which no live attempt can still own. Returns how many things it removed.
   */
  cleanup?(olderThanMs: number, signal: AbortSignal): Promise<number>;
  /**
   * Optional read-back (the gateway's content endpoint: resuming trainers load checkpoints this
   * way). Opens the object at `location`, a receipt location this destination gave, whole or
   * the satisfiable `range` of it. Throws RemoteNotFoundError when it is absent, PermanentError
   * for a location outside this destination, and the upload's error classes otherwise.
   */
  openRead?(
    location: string,
    range: ByteRange | undefined,
    signal: AbortSignal,
    options?: RemoteReadOptions,
  ): Promise<RemoteContent>;
  /**
   * Optional delete (retention of old checkpoint sets, `keepSets`): removes the objects at
   * `locations`, receipt locations this destination gave, in order. One already absent counts as
   * removed. Throws PermanentError for a location outside this destination, and the upload's
   * error classes otherwise. A destination without it refuses `keepSets` at start.
   */
  remove?(locations: readonly string[], signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** What a service folder supplies: how to build its kind's adapter from a destination's config. */
export interface DestinationFactory {
  /** The destination kind this service serves, e.g. `s3`. */
  kind: string;
  /** Builds an adapter from its config; throws (naming the field) on bad options. */
  create(config: DestinationConfig, log: Logger): Destination | Promise<Destination>;
}
