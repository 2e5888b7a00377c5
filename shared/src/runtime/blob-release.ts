/**
 * Deletes a blob once every destination that matched its event is done with it (uploaded or
 * superseded), never before. A dead event keeps its blob so that its DLQ entry can be replayed,
 * at each destination where it died; the sweeper removes it after the stream's max age. An
 * invalid message releases nothing: the blob its subject and id name may be another event's, so
 * the sweeper removes what it staged. Several destinations may finish at once and all decide to delete: removal
 * is idempotent, so that race is harmless.
 */
import type { BlobLocation, BlobStores } from "../blob/mod.ts";
import type { DestinationDirectory } from "../nats/destinations.ts";
import { isTerminal, type Ledger, type LedgerRef } from "./ledger.ts";

export interface Releasable {
  ref: LedgerRef;
  blob: BlobLocation;
  /** The events subject, which says which destinations took it. */
  eventsSubject: string;
}

export async function releaseBlobIfDone(
  r: Releasable,
  /** The destination that just finished the event: no need to read its entry back. */
  doneToken: string,
  ledger: Ledger,
  directory: DestinationDirectory,
  blobs: BlobStores,
): Promise<boolean> {
  for (const token of await directory.matching(r.eventsSubject)) {
    if (token === doneToken) continue;
    const state = (await ledger.get(token, r.ref))?.state;
    if (!isTerminal(state) || state === "dead") return false;
  }
  if (!blobs.has(r.blob.store)) return false;
  await blobs.get(r.blob.store).remove(r.blob);
  return true;
}
