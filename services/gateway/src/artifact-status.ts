/**
 * An artifact version's status: the event, and its ledger entry at every destination that takes
 * it. A destination that has not touched the event yet has no entry; it shows as `pending`.
 */
import {
  type DestinationDirectory,
  destinationFromToken,
  eventSubject,
  isTerminal,
  type Ledger,
  type LedgerEntry,
} from "@artifact-bus/shared";
import type { StoredEvent } from "./event-index.ts";
import type { ArtifactStatusBody } from "./schemas.ts";

/** Tokens of the destinations that take the event. */
export function destinationsOf(directory: DestinationDirectory, { event }: StoredEvent): Promise<string[]> {
  return directory.matching(eventSubject(event));
}

/** The status document of one stored event. */
export async function artifactStatus(
  ledger: Ledger,
  directory: DestinationDirectory,
  stored: StoredEvent,
): Promise<ArtifactStatusBody> {
  const { event } = stored;
  const tokens = await destinationsOf(directory, stored);
  const ref = { project: event.project, run: event.run, eventId: event.id };
  const entries = await Promise.all(tokens.map((t) => ledger.get(t, ref)));
  const destinations: ArtifactStatusBody["destinations"] = {};
  tokens.forEach((token, i) => {
    destinations[destinationFromToken(token)] = destinationState(entries[i], event.createdAt);
  });
  return {
    id: event.id,
    project: event.project,
    run: event.run,
    name: event.name,
    level: event.level,
    sha256: event.blob.sha256,
    size: event.blob.size,
    createdAt: event.createdAt,
    done: entries.every((e) => isTerminal(e?.state)),
    destinations,
  };
}

function destinationState(e: LedgerEntry | undefined, createdAt: string) {
  if (!e) return { state: "pending" as const, attempts: 0, updatedAt: createdAt };
  return {
    state: e.state,
    attempts: e.attempts,
    updatedAt: e.updatedAt,
    ...(e.location === undefined ? {} : { location: e.location }),
    ...(e.error === undefined ? {} : { error: e.error }),
  };
}
