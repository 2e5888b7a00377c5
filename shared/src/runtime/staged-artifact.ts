/**
 * The artifact as the runtime hands it to an adapter: the staged bytes, checked against the
 * sha256 and size computed at staging as they stream by, so a corrupted or truncated blob fails
 * the upload (permanently) instead of landing. The check completes as the last byte passes.
 */
import { createHash } from "node:crypto";
import { type Readable, Transform } from "node:stream";
import type { BlobStores } from "../blob/mod.ts";
import { BlobMissingError } from "../blob/store.ts";
import type { ArtifactEventV1 } from "../event/schema.ts";
import type { Artifact } from "./destination.ts";
import { PermanentError } from "./errors.ts";

/** Builds the Artifact of an event from the blob store its event names. */
export function stagedArtifact(blobs: BlobStores, event: ArtifactEventV1, streamSeq: number): Artifact {
  const store = blobs.get(event.blob.store);
  const { sha256, size } = event.blob;
  return {
    event,
    streamSeq,
    localPath: store.localPath(event.blob),
    open: async () => verifiedStream(await store.open(event.blob).catch(missingIsPermanent), sha256, size),
    read: async (signal) => verifiedBytes(await store.read(event.blob, signal).catch(missingIsPermanent), sha256, size),
  };
}

function missingIsPermanent(err: unknown): never {
  if (err instanceof BlobMissingError) throw new PermanentError(`blob missing: ${err.message}`, { cause: err });
  throw err;
}

/** Returns `bytes` if they match the event's sha256 and size; PermanentError otherwise. */
export function verifiedBytes(bytes: Buffer, sha256: string, size: number): Buffer {
  if (bytes.length !== size) {
    const what = bytes.length > size ? `more than ${size}` : String(bytes.length);
    throw new PermanentError(`staged blob has ${what} bytes, the event says ${size}`);
  }
  const actual = createHash("sha256").update(bytes).digest("hex");
  if (actual !== sha256) throw new PermanentError(`staged blob sha256 ${actual} differs from the event's ${sha256}`);
  return bytes;
}

/** Passes `source` through, failing with PermanentError at the end if sha256 or size differ. */
export function verifiedStream(source: Readable, sha256: string, size: number): Readable {
  const hash = createHash("sha256");
  let seen = 0;
  const check = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      const actual = hash.digest("hex");
      if (seen !== size) cb(new PermanentError(`staged blob has ${seen} bytes, the event says ${size}`));
      else if (actual !== sha256)
        cb(new PermanentError(`staged blob sha256 ${actual} differs from the event's ${sha256}`));
      else cb();
    },
  });
  source.on("error", (err) =>
    check.destroy(
      err instanceof BlobMissingError ? new PermanentError(`blob missing: ${err.message}`, { cause: err }) : err,
    ),
  );
  return source.pipe(check);
}
