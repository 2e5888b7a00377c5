/**
 * Wraps a blob stream so the bytes handed to a destination are checked against the sha256 and
 * size computed at staging: a corrupted or truncated blob fails the upload (permanently)
 * instead of landing. The check completes as the last byte passes, at no extra read.
 */
import { createHash } from "node:crypto";
import { type Readable, Transform } from "node:stream";
import { BlobMissingError } from "../blob/store.ts";
import { PermanentError } from "./errors.ts";

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
