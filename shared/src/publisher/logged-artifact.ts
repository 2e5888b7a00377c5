/** What a trainer gets back from logging a file: a handle at once, the durable event later. */
import type { StagedHow } from "../blob/store.ts";
import type { BlobRef } from "../contract/schema.ts";

/**
 * What {@link ArtifactPublisher.logFile} resolves to: the artifact's bytes are staged and will not
 * change (but see `how`), its event is on its way.
 */
export interface LogFileHandle {
  /** The event id. */
  id: string;
  project: string;
  run: string;
  name: string;
  subject: string;
  /** Destinations that will take it, e.g. `s3:main`. */
  destinations: string[];
  /**
   * How the bytes were staged. With `link` the blob is the trainer's file (same inode): until
   * `durable` resolves, rewriting that file in place changes what is logged, and after it the
   * upload fails its sha256 check. Replace the file by writing a new path and renaming instead.
   */
  how: StagedHow;
  /**
   * Resolves once the event is durable in the stream (its PubAck), with its sequence number and
   * the blob's sha256 and size; rejects if hashing or publishing failed (PublishRefusedError,
   * PublishUnconfirmedError, ...). Leaving it unobserved is safe: it never becomes an unhandled
   * rejection, and {@link ArtifactPublisher.flush} reports the failure by name.
   */
  durable: Promise<LoggedArtifact>;
}

export interface LoggedArtifact {
  id: string;
  project: string;
  run: string;
  name: string;
  subject: string;
  streamSeq: number;
  blob: BlobRef;
  /** Destinations that will take it, e.g. `s3:main`. */
  destinations: string[];
}
