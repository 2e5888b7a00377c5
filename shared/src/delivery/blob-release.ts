/**
 * When a blob may go. Deleted once every destination that matched its event is done with it
 * (uploaded or superseded), never before. A dead event keeps its blob as long as its letter, so
 * that the letter can be replayed at each destination where it died: the sweeper asks
 * {@link blobStillNeeded} before it removes an old blob. An invalid message releases nothing: the
 * blob its subject and id name may be another message's, so the sweeper removes what it staged.
 * Several destinations may finish at once and all decide to delete: removal is idempotent, so
 * that race is harmless.
 */
import { type BlobLocation, type BlobStores, parseBlobKey, type SweepGuard } from "../blob/mod.ts";
import { isTerminal, type LedgerEntry, type LedgerRef } from "../contract/ledger-entry.ts";
import type { Ledger } from "../ledger/ledger.ts";
import type { DestinationDirectory } from "../nats/destinations.ts";

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

/**
 * The sweeper's guard: an old blob stays while some destination's ledger entry for its event
 * still needs the bytes, i.e. the event died there (not as invalid) less than `deadLettersMs`
 * ago, so its letter may be replayed, or a replay of it is in flight. The dead entry is
 * written just after its letter, so the blob outlives the letter. A file whose name is no blob
 * key belongs to no event.
 */
export function blobStillNeeded(
  ledger: Ledger,
  directory: DestinationDirectory,
  deadLettersMs: number,
  now: () => number = Date.now,
): SweepGuard {
  return async (blob) => {
    let ref: LedgerRef;
    try {
      const { project, run, id } = parseBlobKey(blob.ref);
      ref = { project, run, eventId: id };
    } catch {
      return false;
    }
    for (const { token } of await directory.all()) {
      const entry = await ledger.get(token, ref);
      if (entry && needsBytes(entry, deadLettersMs, now())) return true;
    }
    return false;
  };
}

function needsBytes(entry: LedgerEntry, deadLettersMs: number, now: number): boolean {
  if (entry.errorClass === "invalid") return false;
  if (entry.state === "dead") return now - Date.parse(entry.updatedAt) < deadLettersMs;
  // Other unfinished entries of an old blob belong to an event that left the stream with age.
  return !isTerminal(entry.state) && entry.replayDlqSeq !== undefined;
}
