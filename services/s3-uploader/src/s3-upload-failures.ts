/**
 * An S3 upload's failures that are not S3's own: the caller's abort, and the staged blob failing
 * to read (reported by the reader it is read through, so it is not mistaken for the request's).
 */
import type { BlobReader } from "@artifact-bus/shared";
import { PermanentError, TransientError } from "@artifact-bus/shared";

/** The reader, reporting its own failures (not the upload's) to `onError`: they are blob failures. */
export function guardedReader(reader: BlobReader, onError: (err: unknown) => void): BlobReader {
  return {
    fill: (buf) =>
      reader.fill(buf).catch((err: unknown) => {
        onError(err);
        throw err;
      }),
    close: () => reader.close(),
  };
}

export function abortedError(what: string, signal: AbortSignal): Error {
  const reason = signal.reason;
  if (reason instanceof PermanentError) return reason;
  const text = reason instanceof Error ? reason.message : String(reason ?? "aborted");
  return new TransientError(`${what}: aborted: ${text}`, { cause: reason });
}

/**
 * A failure of the staged blob itself. The runtime already types a missing or corrupt blob as
 * PermanentError; anything untyped is a read error that may pass.
 */
export function blobError(err: unknown, what: string): Error {
  if (err instanceof PermanentError || err instanceof TransientError) return err;
  return new TransientError(`${what}: reading the staged blob failed: ${(err as Error)?.message ?? err}`, {
    cause: err,
  });
}
