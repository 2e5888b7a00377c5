/**
 * Deletes a blob once every destination that matched its event is terminal for it, never
 * before. Several destinations may finish at once and all decide to delete: removal is
 * idempotent, so that race is harmless.
 */
import type { BlobStores } from "../blob/mod.ts";
import type { ArtifactEventV1 } from "../event/schema.ts";
import { eventSubject } from "../event/subjects.ts";
import type { DestinationDirectory } from "../nats/destinations.ts";
import { isTerminal, type Ledger } from "./ledger.ts";

export async function releaseBlobIfDone(
  event: ArtifactEventV1,
  /** The destination that just reached a terminal state: no need to read its entry back. */
  doneToken: string,
  ledger: Ledger,
  directory: DestinationDirectory,
  blobs: BlobStores,
): Promise<boolean> {
  const tokens = await directory.matching(eventSubject(event));
  for (const token of tokens) {
    if (token === doneToken) continue;
    const entry = await ledger.get(token, event.id);
    if (!isTerminal(entry?.state)) return false;
  }
  await blobs.get(event.blob.store).remove(event.blob);
  return true;
}
