/** What publishing an artifact can fail with, as the publisher's callers see it. */
import type { ArtifactEventV1, BlobRef } from "./event/schema.ts";

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

/** Raised by `flush` when artifacts it waited for never became durable; lists them by name. */
export class LogFailedError extends Error {
  override name = "LogFailedError";
  readonly failures: { id: string; name: string; error: Error }[];
  constructor(failures: { id: string; name: string; error: Error }[]) {
    const list = failures.slice(0, 10).map((f) => `${f.name} (${f.error.name}: ${f.error.message})`);
    super(`${failures.length} artifact(s) were not logged: ${list.join("; ")}${failures.length > 10 ? "; ..." : ""}`);
    this.failures = failures;
  }
}
