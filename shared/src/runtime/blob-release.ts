/**
 * Deletes a blob once every destination that matched its event is done with it (uploaded or
 * superseded), never before. A dead event keeps its blob so that its DLQ entry can be replayed,
 * at each destination where it died; the sweeper removes it after the stream's max age. Several
 * destinations may finish at once and all decide to delete: removal is idempotent, so that race
 * is harmless.
 */
import type { BlobStores } from "../blob/mod.ts";
import type { ArtifactEventV1 } from "../event/schema.ts";
import { eventSubject } from "../event/subjects.ts";
import type { DestinationDirectory } from "../nats/destinations.ts";
import { isTerminal, type Ledger } from "./ledger.ts";

export async function releaseBlobIfDone(
  event: ArtifactEventV1,
  /** The destination that just uploaded or superseded the event: no need to read its entry back. */
  doneToken: string,
  ledger: Ledger,
  directory: DestinationDirectory,
  blobs: BlobStores,
): Promise<boolean> {
  // A replay is taken by one destination only, which records the outcome on the original event
  // as well: the other destinations are asked about the original, whose blob this is.
  const original = event.replayOf ?? event.id;
  for (const token of await directory.matching(eventSubject(event))) {
    if (token === doneToken) continue;
    const state = (await ledger.get(token, original))?.state;
    if (!isTerminal(state) || state === "dead") return false;
  }
  await blobs.get(event.blob.store).remove(event.blob);
  return true;
}
