/**
 * A checkpoint set's record at one destination (checkpoint-set.ts says what a set is), kept in
 * the ledger bucket under `set.<destination token>.<project>.<run>.<hash of the set's name>`:
 * which members landed or died there, how many the set expects, and whether it was published.
 * The uploader writes it as members land (delivery/set-completion.ts, through ledger/set-ledger.ts);
 * status and retention read it.
 */
import type { Producer, SetRef } from "./schema.ts";
import { artifactKey } from "./subjects.ts";

/** One member of a set as it landed at a destination. */
export interface SetMember {
  name: string;
  size: number;
  sha256: string;
  eventId: string;
  /** Its place among its key's versions (a replay keeps its original's). */
  seq: number;
  producer: Producer;
  /** Where it landed (its receipt's location), for retention's removal; absent in records written before. */
  location?: string;
}

/** A member that ended dead at a destination, which makes the set failed there. */
export interface DeadMember {
  name: string;
  eventId: string;
  seq: number;
  reason: string;
}

/** Where a set stands at one destination. */
export type SetState = "open" | "complete" | "failed";

/** A set's record at one destination (ledger key `set.<destination token>.<project>.<run>.<hash of the set's name>`). */
export interface SetRecord {
  destination: string;
  project: string;
  run: string;
  set: string;
  /** How many members, once an event said it. */
  expected?: number;
  /** The step the set was written at, if an event said it. */
  step?: number;
  /** Landed members, by name. */
  members: Record<string, SetMember>;
  /** Members dead at this destination, by name (a replay that lands removes its name). */
  dead: Record<string, DeadMember>;
  /** The set's place in order: the highest original stream sequence among its events. */
  place: number;
  /** Why the set cannot complete besides dead members (events disagreeing on the count, too many members). */
  conflict?: string;
  /** Set once the manifest landed and the pointer was moved (or found at a newer set). */
  published?: {
    manifest: string;
    /** Where the (first) pointer landed, or its name when a newer set stood there. */
    pointer: string;
    pointerMoved: boolean;
    /** Every pointer this set moved, name -> location (more than one with `{rank}`); absent in records written before. */
    pointers?: Record<string, string>;
  };
  /**
   * A set of one file saved again (isResave): the place it is to be published at again, its new
   * version's; cleared once it was. `published` stays meanwhile, so its pointer is found throughout.
   */
  republish?: number;
  /** Set once retention (`keepSets`) removed the set's manifest and members from the destination. */
  removed?: string;
  updatedAt: string;
}

/** Ledger key prefix of set records. */
export const SET_KEY_PREFIX = "set";

/** The ledger key of a set's record at one destination. */
export function setRecordKey(destinationToken: string, project: string, run: string, set: string): string {
  return `${SET_KEY_PREFIX}.${destinationToken}.${project}.${run}.${artifactKey(set)}`;
}

/** KV key filter for every set record of one run at one destination. */
export function destinationRunSetFilter(destinationToken: string, project: string, run: string): string {
  return `${SET_KEY_PREFIX}.${destinationToken}.${project}.${run}.*`;
}

/** KV key filter for every set record of one run, at every destination. */
export function runSetFilter(project: string, run: string): string {
  return `${SET_KEY_PREFIX}.*.${project}.${run}.*`;
}

/** Where a set stands: failed (a dead member or a conflict), complete (the count known, every member landed), or open. */
export function setState(r: Pick<SetRecord, "dead" | "conflict" | "expected" | "members">): SetState {
  if (r.conflict || Object.keys(r.dead).length > 0) return "failed";
  if (r.expected !== undefined && Object.keys(r.members).length === r.expected) return "complete";
  return "open";
}

/** Why a failed set failed, in one line. */
export function setFailure(r: SetRecord): string | undefined {
  const dead = Object.values(r.dead).map((d) => `${d.name}: ${d.reason}`);
  const why = [...(r.conflict ? [r.conflict] : []), ...dead];
  return why.length ? why.join("; ") : undefined;
}

/** The record `r` with one more event of the set counted: its count, step and place. */
export function countEvent(r: SetRecord, set: SetRef, seq: number): SetRecord {
  const next = { ...r, place: Math.max(r.place, seq) };
  if (set.step !== undefined && next.step === undefined) next.step = set.step;
  if (set.members !== undefined) {
    if (next.expected === undefined) next.expected = set.members;
    else if (next.expected !== set.members && !next.conflict) {
      next.conflict = `events disagree on the member count (${next.expected} and ${set.members})`;
    }
  }
  const landed = Object.keys(next.members).length;
  if (next.expected !== undefined && landed > next.expected && !next.conflict) {
    next.conflict = `${landed} members landed, the set expects ${next.expected}`;
  }
  return next;
}
