/**
 * Name rules of one destination: what it refuses beyond the rules every artifact name follows
 * (names.ts). The topology records them next to each destination's filter (`rules.<token>` in
 * the ledger), so every publisher (the TypeScript one, the gateway, the Python client over NATS)
 * refuses a name at once, naming the destination and the rule, instead of an event that is
 * accepted and dies later at that destination, without loading any adapter.
 */
import { DEFAULT_POINTER_TEMPLATE, isPointerName, SET_MEMBER_DOT_NAMES } from "./checkpoint-set.ts";
import { parseDestinationName } from "./destination-name.ts";
import { InvalidArtifactError } from "./names.ts";
import { MAX_FILE_NAME_BYTES } from "./path-limits.ts";
import type { SetRef } from "./schema.ts";

/** What a destination accepts of names; recorded as JSON by the topology. */
export interface NameRules {
  /** Names with a segment that starts with `.` (`.hydra/config.yaml`): the adapter option of that name. */
  allowDotSegments: boolean;
  /** The longest segment (bytes of UTF-8) a file name there may have: NAME_MAX of a filesystem. */
  maxSegmentBytes?: number;
  /**
   * The template of the names it writes checkpoint sets' pointers under (its `setPointer`):
   * those names are reserved, no artifact may take one. Absent in records of older versions.
   */
  setPointer?: string;
}

/** Kinds whose adapters render paths with remote-path.ts, and so take its `allowDotSegments` option. */
const PATH_KINDS = new Set(["s3", "sftp", "dir"]);
/** Kinds that write files: each segment is a file or directory name, at most NAME_MAX (255) bytes. */
const FILE_KINDS = new Set(["sftp", "dir"]);

/** The rules of a configured destination, from its kind and options (as its adapter reads them). */
export function nameRulesOf(d: { name: string; options: Record<string, unknown>; setPointer?: string }): NameRules {
  const { kind } = parseDestinationName(d.name);
  return {
    allowDotSegments: !PATH_KINDS.has(kind) || d.options.allowDotSegments === true,
    ...(FILE_KINDS.has(kind) ? { maxSegmentBytes: MAX_FILE_NAME_BYTES } : {}),
    setPointer: d.setPointer ?? DEFAULT_POINTER_TEMPLATE,
  };
}

/**
 * Whether a name has a segment starting with `.`: what `allowDotSegments` is about. A member of
 * `set` directly under it named one of SET_MEMBER_DOT_NAMES (Composer's `.metadata`) is no such name.
 */
export function hasDotSegment(name: string, set?: Pick<SetRef, "name" | "close">): boolean {
  if (set && !set.close && name.startsWith(`${set.name}/`)) {
    const rest = name.slice(set.name.length + 1);
    if (SET_MEMBER_DOT_NAMES.has(rest)) return hasDotSegment(set.name);
  }
  return name.split("/").some((s) => s.startsWith("."));
}

/** The rule of `rules` that `name` (a member of `set`, if given) breaks, in words; undefined when it breaks none. */
export function nameRuleBroken(
  name: string,
  rules: NameRules,
  set?: Pick<SetRef, "name" | "close">,
): string | undefined {
  if (!rules.allowDotSegments && hasDotSegment(name, set)) {
    return "it refuses names with a segment starting with '.' (option allowDotSegments)";
  }
  const max = rules.maxSegmentBytes;
  if (max !== undefined && name.split("/").some((s) => Buffer.byteLength(s) > max)) {
    return `it refuses names with a segment longer than ${max} bytes (a file name there)`;
  }
  if (rules.setPointer !== undefined && isPointerName(name, rules.setPointer)) {
    return `it writes checkpoint sets' pointers under such names (setPointer ${JSON.stringify(rules.setPointer)}): they are reserved`;
  }
  return undefined;
}

/** Throws InvalidArtifactError (field `name`) naming the first destination whose rules refuse `name` (a member of `set`, if given). */
export function checkNameRules(
  name: string,
  destinations: { destination: string; rules?: NameRules }[],
  set?: Pick<SetRef, "name" | "close">,
): void {
  for (const d of destinations) {
    const broken = d.rules && nameRuleBroken(name, d.rules, set);
    if (broken)
      throw new InvalidArtifactError("name", `${JSON.stringify(name)} is refused by ${d.destination}: ${broken}`);
  }
}

/** Parses a `rules.<token>` record; undefined for one this version cannot read (no check then). */
export function parseNameRules(data: string): NameRules | undefined {
  try {
    const v = JSON.parse(data) as Partial<NameRules>;
    if (typeof v.allowDotSegments !== "boolean") return undefined;
    const max = typeof v.maxSegmentBytes === "number" ? { maxSegmentBytes: v.maxSegmentBytes } : {};
    const pointer = typeof v.setPointer === "string" ? { setPointer: v.setPointer } : {};
    return { allowDotSegments: v.allowDotSegments, ...max, ...pointer };
  } catch {
    return undefined;
  }
}
