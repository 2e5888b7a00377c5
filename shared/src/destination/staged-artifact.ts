/**
 * The artifact as the runtime hands it to an adapter: the staged bytes, whole or through a
 * reader, always checked against the sha256 and size computed at staging, so a corrupted or
 * truncated blob fails the upload (permanently) instead of landing. The check completes as the
 * last byte the event announces passes. The only unchecked path is a send whose bytes a checked
 * pass read before and the remote checks against that pass's digests (see Artifact.openReader).
 */
import { createHash } from "node:crypto";
import { availableParallelism } from "node:os";
import type { BlobReader } from "../blob/blob-reader.ts";
import { hashPool } from "../blob/hash-pool.ts";
import type { BlobStores } from "../blob/mod.ts";
import { BlobMissingError } from "../blob/store.ts";
import type { ArtifactEventV1 } from "../contract/schema.ts";
import { isUnavailable } from "../nats/availability.ts";
import type { Artifact } from "./destination.ts";
import { PermanentError, TransientError } from "./errors.ts";

/**
 * From what size a blob's check is hashed on a worker thread. With 4 cores or more, so the
 * adapter's event loop (ssh2 encrypts on it) keeps sending while the hash runs beside it. Not
 * on fewer: measured on 2 cores, the thread (its own V8 isolate) added to the uploader's peak
 * RSS and uploads gained nothing measurable, because there the server and the loop already
 * share both cores (bench/RESULTS.md, the notes on uploads to S3 and SFTP).
 */
export function defaultOffThreadHashMinBytes(): number {
  // Read once: it is asked per upload, and each call is a system call.
  cores ??= availableParallelism();
  return cores >= 4 ? 1 << 20 : Number.POSITIVE_INFINITY;
}
let cores: number | undefined;

/** An Artifact as the runtime builds it, telling the runtime whether its bytes were out of reach. */
export interface StagedArtifact extends Artifact {
  /**
   * The error of a read that failed because the staging store could not answer now (a node
   * away, a leader being elected: `isUnavailable`), if one did. The runtime then waits for the
   * store instead of counting an attempt: the destination had no part in it.
   */
  readonly unavailable: unknown;
}

/**
 * Builds the Artifact of an event from the blob store its event names. `offThreadHashMinBytes`:
 * see {@link defaultOffThreadHashMinBytes}.
 */
export function stagedArtifact(
  blobs: BlobStores,
  event: ArtifactEventV1,
  streamSeq: number,
  offThreadHashMinBytes = defaultOffThreadHashMinBytes(),
): StagedArtifact {
  const store = blobs.get(event.blob.store);
  const { sha256, size } = event.blob;
  let unavailable: unknown;
  const failed = (err: unknown): never => {
    if (isUnavailable(err)) {
      unavailable = err;
      throw new TransientError(`the staged blob cannot be read now: ${(err as Error)?.message ?? err}`, { cause: err });
    }
    return missingIsPermanent(err);
  };
  return {
    event,
    streamSeq,
    get unavailable() {
      return unavailable;
    },
    read: async (signal) => verifiedBytes(await store.read(event.blob, signal).catch(failed), sha256, size),
    openReader: async (signal, options) => {
      const opened = await store.openReader(event.blob, signal).catch(failed);
      const reader: BlobReader = { fill: (buf) => opened.fill(buf).catch(failed), close: () => opened.close() };
      const offThread = options?.offThread ?? size >= offThreadHashMinBytes;
      if (options?.verify !== false) return verifiedReader(reader, sha256, size, offThread);
      return reader;
    },
  };
}

function missingIsPermanent(err: unknown): never {
  if (err instanceof BlobMissingError) throw new PermanentError(`blob missing: ${err.message}`, { cause: err });
  throw err;
}

/** A reader whose fill() checks the bytes as they pass; see Artifact.openReader. */
export function verifiedReader(reader: BlobReader, sha256: string, size: number, offThread = false): BlobReader {
  // Off the thread, the final fill() still waits for the digest.
  const hash = offThread ? hashPool.stream() : new InlineSha256();
  let seen = 0;
  let checked = false;
  return {
    async fill(buf) {
      const n = await reader.fill(buf).catch(missingIsPermanent);
      seen += n;
      // Bytes past the event's size fail even after the check passed: the blob changed.
      if (seen > size) throw new PermanentError(`staged blob has more than the ${size} bytes the event says`);
      if (checked) return n;
      await hash.update(buf.subarray(0, n));
      // Checked as soon as the event's size is reached (an adapter may never ask for more), or
      // at a short read before it.
      if (seen === size || n < buf.length) {
        checked = true;
        verify(seen, await hash.digest(), sha256, size);
      }
      return n;
    },
    async close() {
      hash.dispose();
      await reader.close();
    },
  };
}

/** ThreadSha256's interface on the calling thread. */
class InlineSha256 {
  private readonly hash = createHash("sha256");
  async update(chunk: Uint8Array): Promise<void> {
    this.hash.update(chunk);
  }
  async digest(): Promise<string> {
    return this.hash.digest("hex");
  }
  dispose(): void {}
}

/** Returns `bytes` if they match the event's sha256 and size; PermanentError otherwise. */
export function verifiedBytes(bytes: Buffer, sha256: string, size: number): Buffer {
  if (bytes.length > size) throw new PermanentError(`staged blob has more than the ${size} bytes the event says`);
  verify(bytes.length, createHash("sha256").update(bytes).digest("hex"), sha256, size);
  return bytes;
}

function verify(seen: number, actual: string, sha256: string, size: number): void {
  if (seen !== size) throw new PermanentError(`staged blob has ${seen} bytes, the event says ${size}`);
  if (actual !== sha256) throw new PermanentError(`staged blob sha256 ${actual} differs from the event's ${sha256}`);
}
