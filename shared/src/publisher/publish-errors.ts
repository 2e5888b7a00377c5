/** What publishing an artifact can fail with, as the publisher's callers see it. */
import type { ArtifactEventV1, BlobRef } from "../contract/schema.ts";

/** No destination takes the artifact's subject: it would never be uploaded, so it is refused. */
export class NoDestinationError extends Error {
  override name = "NoDestinationError";
}

/** The server refused the event (permissions): it did not land, and its staged blob is removed. */
export class PublishRefusedError extends Error {
  override name = "PublishRefusedError";
}

/**
 * No PubAck came in time: the event may still have landed (the request may have reached the
 * server). Its staged blob is kept for it; `eventId` lets the caller look for it in the ledger,
 * or publish the same id again (deduplicated within the stream's window).
 */
export class PublishUnconfirmedError extends Error {
  override name = "PublishUnconfirmedError";
  readonly eventId: string;
  readonly blob: BlobRef;
  constructor(event: ArtifactEventV1, message: string, cause: unknown) {
    super(`${message}; it may still land (event ${event.id}), so its staged blob is kept`, { cause });
    this.eventId = event.id;
    this.blob = event.blob;
  }
}

/**
 * Raised by `flush` when artifacts it waited for never became durable; lists them by name. When
 * others ended dead as well (and `flush` fails on dead ones), `dead` names those too, so one
 * error reports everything that did not land.
 */
export class LogFailedError extends Error {
  override name = "LogFailedError";
  readonly failures: { id: string; name: string; error: Error }[];
  readonly dead: DeadArtifact[];
  constructor(failures: { id: string; name: string; error: Error }[], dead: DeadArtifact[] = []) {
    const list = failures.slice(0, 10).map((f) => `${f.name} (${f.error.name}: ${f.error.message})`);
    const deadList = dead.slice(0, 10).map((d) => `${d.name} at ${d.destination} (${d.error})`);
    super(
      `${failures.length} artifact(s) were not logged: ${list.join("; ")}${failures.length > 10 ? "; ..." : ""}` +
        (dead.length > 0
          ? `; ${dead.length} ended dead: ${deadList.join("; ")}${dead.length > 10 ? "; ..." : ""}`
          : ""),
    );
    this.failures = failures;
    this.dead = dead;
  }
}

/** One artifact that ended `dead` at one destination, as `flush` names it. */
export interface DeadArtifact {
  /** The event id. */
  id: string;
  name: string;
  /** The destination it died at, e.g. `s3:main`. */
  destination: string;
  /** The last error the destination recorded (why it died). */
  error: string;
}

/**
 * Raised by `flush` (unless `failOnDead: false`) once everything is terminal, when some artifact
 * ended `dead` at some destination: a checkpoint that never landed must not look like success.
 * `dead` names each artifact, destination and reason; the artifacts are in the DLQ, replayable.
 */
export class DeadArtifactsError extends Error {
  override name = "DeadArtifactsError";
  readonly dead: DeadArtifact[];
  constructor(dead: DeadArtifact[]) {
    const list = dead.slice(0, 10).map((d) => `${d.name} at ${d.destination} (${d.error})`);
    super(
      `${dead.length} artifact(s) ended dead (in the dead-letter queue, replayable): ${list.join("; ")}${dead.length > 10 ? "; ..." : ""}`,
    );
    this.dead = dead;
  }
}
