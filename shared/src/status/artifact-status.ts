/**
 * An artifact version's status: the event, and its ledger entry at every destination that takes
 * it. A destination that has not touched the event yet has no entry; it shows as `pending`.
 * `GET /v1/artifacts/{id}`, the gateway's run listing and `artifact-bus status` all answer with it.
 */

import { destinationFromToken } from "../contract/destination-name.ts";
import { type AttemptRecord, isSettled, type LedgerEntry, type LedgerState } from "../contract/ledger-entry.ts";
import type { Level } from "../contract/schema.ts";
import { artifactKey, eventSubject } from "../contract/subjects.ts";
import type { Ledger } from "../ledger/ledger.ts";
import type { DestinationDirectory } from "../nats/destinations.ts";
import type { EventLookup, StoredEvent } from "./event-lookup.ts";

/** Where one version is at one destination. */
export interface DestinationStatus {
  state: LedgerState;
  attempts: number;
  updatedAt: string;
  /** Where it landed, once uploaded. */
  location?: string;
  /** The last error, when retrying or dead. */
  error?: string;
  /** Bytes sent so far, while a long upload runs (written at most once a second). */
  bytesDone?: number;
  /** The last attempts that ran, oldest first (see AttemptRecord). */
  history?: AttemptRecord[];
}

export interface ArtifactStatus {
  id: string;
  project: string;
  run: string;
  name: string;
  level: Level;
  sha256: string;
  size: number;
  createdAt: string;
  /** Final (uploaded, superseded or dead) at every destination. */
  done: boolean;
  /** By destination name, e.g. `s3:main`. */
  destinations: Record<string, DestinationStatus>;
}

/** A page of a run's artifacts: the newest version of each name, in key order. */
export interface RunPage {
  items: ArtifactStatus[];
  /** The key to continue after, when more names follow. */
  next: string | null;
}

/** Tokens of the destinations that take the event. */
export function destinationsOf(directory: DestinationDirectory, { event }: StoredEvent): Promise<string[]> {
  return directory.matching(eventSubject(event));
}

/** The status document of one stored event. */
export async function artifactStatus(
  ledger: Ledger,
  directory: DestinationDirectory,
  stored: StoredEvent,
): Promise<ArtifactStatus> {
  const { event } = stored;
  const tokens = await destinationsOf(directory, stored);
  const ref = { project: event.project, run: event.run, eventId: event.id };
  const entries = await Promise.all(tokens.map((t) => ledger.getOf(t, ref, stored.streamSeq)));
  const destinations: ArtifactStatus["destinations"] = {};
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
    done: entries.every((e) => isSettled(e)),
    destinations,
  };
}

/** One page of a run's artifacts: at most `limit` names with a key after `after` (default: from the first). */
export async function runArtifacts(
  lookup: EventLookup,
  ledger: Ledger,
  directory: DestinationDirectory,
  o: { project: string; run: string; limit: number; after?: string },
): Promise<RunPage> {
  const groups = (await lookup.runNames(o.project, o.run)).filter((g) => g.key > (o.after ?? ""));
  const page = groups.slice(0, o.limit);
  const newest = await Promise.all(page.map((g) => lookup.newest(g)));
  const items = await Promise.all(
    newest.filter((s) => s !== undefined).map((s) => artifactStatus(ledger, directory, s)),
  );
  return { items, next: groups.length > o.limit ? (page.at(-1)?.key ?? null) : null };
}

/** The newest error among a name's versions: where and when it happened. */
export interface LatestError {
  eventId: string;
  destination: string;
  error: string;
  at: string;
}

/** Every version of one name in a run (newest first), and the newest error among them. */
export interface NameVersions {
  project: string;
  run: string;
  name: string;
  versions: ArtifactStatus[];
  latestError: LatestError | null;
}

/**
 * Every version of `name` in a run, newest first (the newest `limit`), each with its state at
 * each destination, and the newest error among them (by when the ledger recorded it). Costs a
 * read of each version's message and of its entry at each destination.
 */
export async function nameVersions(
  lookup: EventLookup,
  ledger: Ledger,
  directory: DestinationDirectory,
  o: { project: string; run: string; name: string; limit: number },
): Promise<NameVersions> {
  const stored = await lookup.versions(o.project, o.run, artifactKey(o.name), o.limit);
  // The key is a hash of the name: keep only the name asked for.
  const versions = await Promise.all(
    stored.filter((s) => s.event.name === o.name).map((s) => artifactStatus(ledger, directory, s)),
  );
  let latestError: LatestError | null = null;
  for (const v of versions) {
    for (const [destination, d] of Object.entries(v.destinations)) {
      if (d.error === undefined || d.state === "uploaded" || d.state === "superseded") continue;
      if (!latestError || d.updatedAt > latestError.at) {
        latestError = { eventId: v.id, destination, error: d.error, at: d.updatedAt };
      }
    }
  }
  return { project: o.project, run: o.run, name: o.name, versions, latestError };
}

function destinationState(e: LedgerEntry | undefined, createdAt: string): DestinationStatus {
  if (!e) return { state: "pending", attempts: 0, updatedAt: createdAt };
  return {
    state: e.state,
    attempts: e.attempts,
    updatedAt: e.updatedAt,
    ...(e.location === undefined ? {} : { location: e.location }),
    ...(e.error === undefined ? {} : { error: e.error }),
    ...(e.state === "uploading" && e.bytesDone !== undefined ? { bytesDone: e.bytesDone } : {}),
    ...(e.history?.length ? { history: e.history } : {}),
  };
}
