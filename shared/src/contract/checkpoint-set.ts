/**
 * Checkpoint sets: files logged as members of one set (a sharded checkpoint) become visible at a
 * destination as a whole. What producers and uploaders both speak: the names a set reserves and
 * the rule that ties a member's name to its set (under it; in a set of one file, as it), here;
 * the pointer a complete set moves and its template, in set-pointer.ts; the per-destination
 * ledger record of a set, in set-record.ts; and the manifest the destination publishes once every
 * member landed there, in set-manifest.ts. This file re-exports those, so the whole of a set is
 * importable from here.
 *
 * A set is identified by (project, run, set name): the event's subject vouches for project and
 * run, so one run's set never mixes with another run's, whatever its name.
 */
import { checkArtifactName, InvalidArtifactError } from "./names.ts";
import type { ArtifactEventV1, SetRef } from "./schema.ts";
import type { SetRecord } from "./set-record.ts";

export { type SetManifest, setManifest } from "./set-manifest.ts";
export {
  checkPointerTemplate,
  DEFAULT_POINTER_TEMPLATE,
  defaultPointerName,
  isPointerName,
  pointerName,
  pointerNames,
} from "./set-pointer.ts";
export {
  countEvent,
  type DeadMember,
  destinationRunSetFilter,
  runSetFilter,
  SET_KEY_PREFIX,
  type SetMember,
  type SetRecord,
  type SetState,
  setFailure,
  setRecordKey,
  setState,
} from "./set-record.ts";

/** Last segment of the event that closes a set (it is no member). */
export const SET_CLOSE_BASENAME = "_set-close.json";
/** Last segment of the manifest the runtime publishes next to the members of a complete set. */
export const SET_MANIFEST_BASENAME = "_set-manifest.json";
/**
 * Names directly under a set starting with this are the set's own, never a member's. Not a dot
 * name: path destinations refuse segments starting with '.' unless told otherwise.
 */
const RESERVED_PREFIX = "_set-";

/**
 * File names starting with '.' that a set member may have directly under its set, where path
 * destinations otherwise refuse hidden names (allowDotSegments): `.metadata` is the index
 * torch.distributed.checkpoint (Composer's sharded checkpoints) writes beside the shards, and a
 * checkpoint cannot be loaded without it. Only these exact names, only as the last segment right
 * under a set: no `.ssh/...` or `.env` goes through this way.
 */
export const SET_MEMBER_DOT_NAMES: ReadonlySet<string> = new Set([".metadata"]);

/** `<set>/_set-close.json`: the name of the event that closes `set`. */
export function setCloseName(set: string): string {
  return `${set}/${SET_CLOSE_BASENAME}`;
}

/** The close event of a set, but for its id and blob: its name, its `set` field and its bytes. */
export interface SetClose {
  name: string;
  set: SetRef;
  bytes: Buffer;
}

/** What closes `set` with `members` members (at `step`): every producer surface sends this one. */
export function setClose(set: string, members: number, step?: number): SetClose {
  return {
    name: setCloseName(set),
    set: { name: set, members, close: true, ...(step === undefined ? {} : { step }) },
    bytes: Buffer.from(`${JSON.stringify({ set, members })}\n`),
  };
}

/** `<set>/_set-manifest.json`: where the manifest of `set` is published. */
export function setManifestName(set: string): string {
  return `${set}/${SET_MANIFEST_BASENAME}`;
}

/**
 * Whether `r` is a set of one file: its one member is named as the set (`members: 1` on the
 * member), as a non-sharded checkpoint (Composer's `ep3-ba3000-rank0.pt`) is logged so that the
 * pointer names it only once it landed. Such a set has no manifest (it would have to lie under a
 * file, which path destinations cannot hold; the member's own record vouches for its bytes), and
 * its pointer's bytes, the set's name, are the file's name.
 */
export function isFileSet(r: Pick<SetRecord, "set" | "members">): boolean {
  return r.members[r.set] !== undefined;
}

/**
 * Whether a newer version of `name` is a newer version of the published set `r` rather than a
 * change to a set closed for good: only in a set of one file, which is versioned as its one name
 * is (newest wins; Composer saving under a fixed name). It lands, the set is published again at
 * its new place (`republish`: the pointer, still holding the file's name, is written at that
 * place), and retention counts it from there. A sharded set's manifest vouches for every member's bytes, so
 * any member's new version is refused there instead.
 */
export function isResave(r: Pick<SetRecord, "set" | "members">, name: string): boolean {
  return isFileSet(r) && name === r.set;
}

/**
 * Checks an event's `set` against its name (part of validateEvent, so producers and uploaders
 * refuse the same events): no name but a close takes a set's own names (a last segment
 * starting `_set-`), with or without a set; the set's name is a valid artifact name; a member's
 * name lies under it (`<set>/...`); the event closing the set is named `<set>/_set-close.json`
 * and says how many members the set has.
 */
export function checkSetMembership(event: Pick<ArtifactEventV1, "name" | "set">): void {
  const set = event.set;
  const q = JSON.stringify;
  // Any name whose last segment starts with the prefix is some set's own (a directory may be a
  // set): taken by a plain artifact or a member deeper down, it would replace that set's
  // manifest, and a resumed job would read a set that is not the one that landed.
  const base = event.name.slice(event.name.lastIndexOf("/") + 1);
  if (base.startsWith(RESERVED_PREFIX) && !(set?.close && event.name === setCloseName(set.name))) {
    throw new InvalidArtifactError(
      "name",
      `${q(event.name)}: names whose last segment starts with "${RESERVED_PREFIX}" are a checkpoint set's own (its close, its manifest); only the event closing a set takes one`,
    );
  }
  if (!set) return;
  try {
    checkArtifactName(set.name);
  } catch (err) {
    throw new InvalidArtifactError("set.name", (err as Error).message.replace(/^name: /, ""));
  }
  if (set.close) {
    if (event.name !== setCloseName(set.name)) {
      throw new InvalidArtifactError(
        "name",
        `${q(event.name)}: the event closing set ${q(set.name)} must be named ${q(setCloseName(set.name))}`,
      );
    }
    if (set.members === undefined) {
      throw new InvalidArtifactError("set.members", `closing set ${q(set.name)} must say how many members it has`);
    }
    return;
  }
  if (event.name === set.name) {
    if (set.members === 1) return; // a set of one file, named as it (see isFileSet)
    throw new InvalidArtifactError(
      "name",
      `${q(event.name)} is named as its set: only a set of one file is (it says members: 1)`,
    );
  }
  if (!event.name.startsWith(`${set.name}/`)) {
    throw new InvalidArtifactError(
      "name",
      `${q(event.name)} must lie under its set's name ${q(set.name)} (a member of a set is named "<set>/...", or, in a set of one file, as the set)`,
    );
  }
}
