/**
 * Retention of old checkpoint sets at one destination (`keepSets`): once a set's pointer moved to
 * a newly complete set, the complete sets of the same run and pointer older than the newest N (by
 * their place) are removed from the destination, and their records marked removed.
 *
 * Never removed: the set the pointer names (the one that just moved it is counted among the N,
 * and only sets placed before it are candidates, so a newer set moving the pointer meanwhile is
 * never one either), an open or failed set (its files are what an operator looks at), a set whose
 * manifest or member locations the record does not know (records written before retention).
 */
import type { Logger } from "pino";
import type { DestinationConfig } from "../config/config.ts";
import {
  DEFAULT_POINTER_TEMPLATE,
  isFileSet,
  pointerName,
  type SetRecord,
  setState,
} from "../contract/checkpoint-set.ts";
import type { Destination } from "../destination/destination.ts";
import { describeError } from "../destination/errors.ts";
import { listDestinationRunSets, type SetLedger } from "../ledger/set-ledger.ts";

export interface SetRetentionDeps {
  sets: SetLedger;
  destination: Destination;
  destinationToken: string;
  config: DestinationConfig;
  log: Logger;
}

/**
 * The sets `keepSets` lets go once `current` (complete, its pointer just moved to it) stands:
 * complete, published, not yet removed sets of its run and pointer placed before it, past the
 * newest `keep - 1` of them. Oldest first.
 */
export function setsToRemove(
  current: SetRecord,
  all: readonly SetRecord[],
  keep: number,
  template: string,
): SetRecord[] {
  const pointer = pointerName(current.set, template);
  const older = all
    .filter(
      (r) =>
        r.set !== current.set &&
        r.place < current.place &&
        setState(r) === "complete" &&
        r.published !== undefined &&
        r.removed === undefined &&
        pointerName(r.set, template) === pointer,
    )
    .sort((a, b) => b.place - a.place);
  return older.slice(Math.max(0, keep - 1)).reverse();
}

/** Runs retention after `current` moved its pointer; a no-op unless the destination says `keepSets`. */
export async function retainSets(deps: SetRetentionDeps, current: SetRecord, signal: AbortSignal): Promise<void> {
  const keep = deps.config.keepSets;
  const remove = deps.destination.remove?.bind(deps.destination);
  if (keep === undefined || !remove) return;
  const template = deps.config.setPointer ?? DEFAULT_POINTER_TEMPLATE;
  const all = await listDestinationRunSets(deps.sets.kv, deps.destinationToken, current.project, current.run);
  for (const old of setsToRemove(current, all, keep, template)) {
    const log = deps.log.child({ set: old.set, project: old.project, run: old.run });
    const members = Object.values(old.members).map((m) => m.location);
    const manifest = old.published?.manifest;
    // A set of one file has no manifest: its member is all there is to remove.
    if ((!manifest && !isFileSet(old)) || members.some((l) => !l)) {
      log.warn("keepSets: the record does not say where the set's files are; the set stays");
      continue;
    }
    try {
      // The manifest goes first. Readers go pointer -> manifest -> members, and a manifest is the
      // destination's word that every member it lists is there: removing members first would
      // leave, for a while (or for good, if this replica dies here), a manifest that vouches for
      // a set that is not whole. Manifest first, a half-removed set looks like an incomplete one,
      // which readers already refuse; the pointer never names it (see the file's comment), and a
      // reader holding the manifest from before finds a member missing, never a wrong one.
      if (manifest) await remove([manifest], signal);
      await remove(members as string[], signal);
    } catch (err) {
      // Left for the next set's retention: removal of what is already gone counts as done.
      log.warn({ err: describeError(err) }, "keepSets: removing an old set failed; the next set tries again");
      continue;
    }
    const ref = {
      destinationToken: deps.destinationToken,
      destination: deps.destination.name,
      project: old.project,
      run: old.run,
      set: old.set,
    };
    await deps.sets.update(ref, (cur) => (cur.removed ? undefined : { ...cur, removed: new Date().toISOString() }));
    log.info({ keepSets: keep }, "keepSets: old set removed");
  }
}
