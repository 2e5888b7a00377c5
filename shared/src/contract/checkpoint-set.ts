/**
 * Checkpoint sets: files logged as members of one set (a sharded checkpoint) become visible at a
 * destination as a whole. What producers and uploaders both speak: the names a set reserves, the
 * rule that ties a member's name to its set (under it; in a set of one file, as it), the
 * per-destination ledger record of a set, and the manifest the destination publishes once every
 * member landed there.
 *
 * A set is identified by (project, run, set name): the event's subject vouches for project and
 * run, so one run's set never mixes with another run's, whatever its name.
 */
import { checkArtifactName, InvalidArtifactError } from "./names.ts";
import type { ArtifactEventV1, Producer, SetRef } from "./schema.ts";
import { artifactKey } from "./subjects.ts";

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
 * Where a set's pointer goes by default: `latest` in the set's parent directory. A destination
 * may say otherwise (`setPointer`), from `{dir}` (the set's parent directory, empty at the top),
 * `{set}` (the set's whole name), `{base}` (its last segment) and `{rank}`: with it, one pointer
 * per rank that logged a member of the set (Composer's `{dir}/latest-rank{rank}.pt.symlink`,
 * which each rank's autoresume reads).
 */
export const DEFAULT_POINTER_TEMPLATE = "{dir}/latest";

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

/** The default pointer of `set`: `latest` in the set's parent directory (`checkpoints/ep3` -> `checkpoints/latest`). */
export function defaultPointerName(set: string): string {
  return pointerName(set, DEFAULT_POINTER_TEMPLATE);
}

/**
 * The pointer of `set` as `template` names it (see DEFAULT_POINTER_TEMPLATE), for `rank` where
 * it says `{rank}`; an empty `{dir}` takes the `/` after it along. Throws InvalidArtifactError
 * when the result is no valid name.
 */
export function pointerName(set: string, template: string, rank = 0): string {
  const slash = set.lastIndexOf("/");
  const dir = slash < 0 ? "" : set.slice(0, slash);
  const base = set.slice(slash + 1);
  const rendered = template
    .replace(/\{dir\}\/?/g, (m) => (dir ? `${dir}${m.endsWith("/") ? "/" : ""}` : ""))
    .replaceAll("{set}", set)
    .replaceAll("{base}", base)
    .replaceAll("{rank}", String(rank));
  return checkArtifactName(rendered);
}

/**
 * Every pointer a complete set moves: the one `template` names, or with `{rank}` one per rank
 * among its members' producers (a producer that says no rank is rank 0), lowest rank first.
 */
export function pointerNames(r: Pick<SetRecord, "set" | "members">, template: string): string[] {
  if (!template.includes("{rank}")) return [pointerName(r.set, template)];
  const ranks = new Set(Object.values(r.members).map((m) => m.producer.rank ?? 0));
  return [...ranks].sort((a, b) => a - b).map((rank) => pointerName(r.set, template, rank));
}

/**
 * Whether `name` is one a destination with pointer `template` may write some set's pointer under
 * (`ck/latest` and `latest` for the default): no artifact may take it, or it would overwrite the
 * pointer, or the pointer it.
 */
export function isPointerName(name: string, template: string): boolean {
  let pattern = pointerPatterns.get(template);
  if (pattern === undefined) {
    pattern = pointerPattern(template);
    if (pointerPatterns.size >= 64) pointerPatterns.clear(); // a bound, should templates ever vary
    pointerPatterns.set(template, pattern);
  }
  return pattern.test(name);
}

/**
 * Patterns by template, compiled once: each name is checked against every destination's
 * template on each logFile and again before its publish, and compiling a RegExp each time was
 * most of that check's cost.
 */
const pointerPatterns = new Map<string, RegExp>();

/** Every name `template` renders to, as a pattern: `{dir}/` any parent directory or none, `{set}` any name, `{base}` one segment, `{rank}` a number. */
function pointerPattern(template: string): RegExp {
  let pattern = pointerPatterns.get(template);
  if (!pattern) {
    pattern = compilePointerPattern(template);
    // A destination's template rarely changes: a handful of entries, bounded all the same.
    if (pointerPatterns.size >= 64) pointerPatterns.clear();
    pointerPatterns.set(template, pattern);
  }
  return pattern;
}

function compilePointerPattern(template: string): RegExp {
  const parts = template.split(/(\{dir\}\/?|\{set\}|\{base\}|\{rank\})/);
  const source = parts
    .map((p) => {
      if (p === "{dir}/") return "(?:.+/)?";
      if (p === "{dir}") return ".*";
      if (p === "{set}") return ".+";
      if (p === "{base}") return "[^/]+";
      if (p === "{rank}") return "\\d+";
      return p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("");
  return new RegExp(`^${source}$`);
}

/** Checks a destination's `setPointer` template: known placeholders only, and a valid name for any set. */
export function checkPointerTemplate(template: string): void {
  const unknown = template.match(/\{(?!dir\}|set\}|base\}|rank\})[^}]*\}/);
  if (unknown) throw new Error(`unknown placeholder ${unknown[0]} (known: {dir}, {set}, {base}, {rank})`);
  for (const set of ["ep1", "checkpoints/ep1-ba100"]) pointerName(set, template);
  if (pointerName("a/b", template).startsWith("a/b/")) {
    throw new Error("the pointer must not lie inside the set it names");
  }
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
 * refuse the same events): the set's name is a valid artifact name; a member's name lies under
 * it (`<set>/...`) and is none of the names the set reserves (`<set>/_set-*`); the event closing
 * the set is named `<set>/_set-close.json` and says how many members the set has.
 */
export function checkSetMembership(event: Pick<ArtifactEventV1, "name" | "set">): void {
  const set = event.set;
  if (!set) return;
  try {
    checkArtifactName(set.name);
  } catch (err) {
    throw new InvalidArtifactError("set.name", (err as Error).message.replace(/^name: /, ""));
  }
  const q = JSON.stringify;
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
  const rest = event.name.slice(set.name.length + 1);
  if (!rest.includes("/") && rest.startsWith(RESERVED_PREFIX)) {
    throw new InvalidArtifactError(
      "name",
      `${q(event.name)}: names starting with "${RESERVED_PREFIX}" directly under a set are the set's own (its close, its manifest)`,
    );
  }
}

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

/** The manifest of a complete set, as published next to its members (deterministic: replicas write the same bytes). */
export interface SetManifest {
  schema: 1;
  set: string;
  project: string;
  run: string;
  step?: number;
  /** The set's place in order (see SetRecord.place). */
  place: number;
  /**
   * `location`: where the member landed at this destination (its receipt's location, e.g.
   * `wandb://team/vision/checkpoints.ep3.rank0.pt-1a2b3c4d:v0`, the W&B artifact version holding
   * it); absent when the record does not know it.
   */
  members: { name: string; size: number; sha256: string; producer: Producer; location?: string }[];
}

export function setManifest(r: SetRecord): SetManifest {
  const members = Object.values(r.members)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((m) => ({
      name: m.name,
      size: m.size,
      sha256: m.sha256,
      producer: m.producer,
      ...(m.location ? { location: m.location } : {}),
    }));
  return {
    schema: 1,
    set: r.set,
    project: r.project,
    run: r.run,
    ...(r.step === undefined ? {} : { step: r.step }),
    place: r.place,
    members,
  };
}
