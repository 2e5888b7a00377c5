/**
 * Name rules of one destination: what it refuses beyond the rules every artifact name follows
 * (names.ts). The topology records them next to each destination's filter (`rules.<token>` in
 * the ledger), so every publisher (the TypeScript one, the gateway, the Python client over NATS)
 * refuses a name at once, naming the destination and the rule, instead of an event that is
 * accepted and dies later at that destination, without loading any adapter.
 */
import { DEFAULT_POINTER_TEMPLATE, isPointerName } from "./checkpoint-set.ts";
import { parseDestinationName } from "./destination-name.ts";
import { hasDotSegment } from "./dot-segments.ts";
import { type PathEvent, type PathRule, parsePathRule, pathRuleBroken, pathRuleOf } from "./name-path-rule.ts";
import { InvalidArtifactError } from "./names.ts";
import { MAX_FILE_NAME_BYTES } from "./path-limits.ts";
import type { SetRef } from "./schema.ts";

export { hasDotSegment } from "./dot-segments.ts";

/**
 * What a destination accepts of names; recorded as JSON by the topology. With its path rule
 * (name-path-rule.ts: `pathTemplate`, `prefix` or `root`, `maxPathBytes`; absent in records of
 * older versions) the path it would write a name at is checked against its limit too.
 */
export interface NameRules extends Partial<PathRule> {
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
    ...pathRuleOf(kind, d.options),
  };
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

/**
 * Throws InvalidArtifactError (field `name`) naming the first destination whose rules refuse the
 * name of `event` (a member of `event.set`, if given): a rule of the name's, or the path it would
 * be written at (rendered for the event's project, run, level and rank) past that destination's limit.
 */
export function checkNameRules(
  event: PathEvent & { set?: Pick<SetRef, "name" | "close"> },
  destinations: { destination: string; rules?: NameRules }[],
): void {
  for (const d of destinations) {
    const broken = d.rules && (nameRuleBroken(event.name, d.rules, event.set) ?? pathRuleBroken(event, d.rules));
    if (broken) {
      const message = `${JSON.stringify(event.name)} is refused by ${d.destination}: ${broken}`;
      throw new InvalidArtifactError("name", message);
    }
  }
}

/** Parses a `rules.<token>` record; undefined for one this version cannot read (no check then). */
export function parseNameRules(data: string): NameRules | undefined {
  try {
    const v = JSON.parse(data) as Partial<NameRules>;
    if (typeof v.allowDotSegments !== "boolean") return undefined;
    const max = typeof v.maxSegmentBytes === "number" ? { maxSegmentBytes: v.maxSegmentBytes } : {};
    const pointer = typeof v.setPointer === "string" ? { setPointer: v.setPointer } : {};
    return { allowDotSegments: v.allowDotSegments, ...max, ...pointer, ...parsePathRule(v as Record<string, unknown>) };
  } catch {
    return undefined;
  }
}
