/**
 * Where a run's checkpoint sets stand at each destination, from their ledger records: what
 * `artifact-bus status --project P --run R` shows under the run's artifacts, and what the gateway
 * may serve. A failed set names its missing members and why.
 */
import type { KV } from "@nats-io/kv";
import { type SetRecord, type SetState, setState } from "../contract/checkpoint-set.ts";
import { listRunSets } from "../ledger/set-ledger.ts";

/** One set at one destination. */
export interface SetStatus {
  set: string;
  destination: string;
  state: SetState;
  /** How many members it has, once an event said it. */
  expected?: number;
  /** How many landed at this destination. */
  landed: number;
  /** Members dead here (the set is then failed), with why. */
  missing: { name: string; eventId: string; reason: string }[];
  /** Why it failed besides dead members (events disagreeing on the count). */
  conflict?: string;
  /** The set's place in order: the highest stream sequence among its events. */
  place: number;
  /** Once complete: where its manifest is, and whether the pointer names it (false: a newer set). */
  manifest?: string;
  pointer?: string;
  pointerMoved?: boolean;
  /** Every pointer it moved, name -> location (one per rank with a `{rank}` setPointer). */
  pointers?: Record<string, string>;
  /** When retention (`keepSets`) removed its manifest and members from the destination. */
  removed?: string;
  updatedAt: string;
}

/** Every checkpoint set of a run, at every destination, by set name then destination. */
export async function runSets(kv: KV, project: string, run: string): Promise<SetStatus[]> {
  const records = await listRunSets(kv, project, run);
  return records
    .map(setStatusOf)
    .sort((a, b) => a.set.localeCompare(b.set) || a.destination.localeCompare(b.destination));
}

export function setStatusOf(r: SetRecord): SetStatus {
  return {
    set: r.set,
    destination: r.destination,
    state: setState(r),
    ...(r.expected === undefined ? {} : { expected: r.expected }),
    landed: Object.keys(r.members).length,
    missing: Object.values(r.dead).map((d) => ({ name: d.name, eventId: d.eventId, reason: d.reason })),
    ...(r.conflict ? { conflict: r.conflict } : {}),
    place: r.place,
    ...(r.published
      ? {
          manifest: r.published.manifest,
          pointer: r.published.pointer,
          pointerMoved: r.published.pointerMoved,
          ...(r.published.pointers ? { pointers: r.published.pointers } : {}),
        }
      : {}),
    ...(r.removed ? { removed: r.removed } : {}),
    updatedAt: r.updatedAt,
  };
}
