/** Names with a segment that starts with `.`: what a destination's `allowDotSegments` option is about. */
import { SET_MEMBER_DOT_NAMES } from "./checkpoint-set.ts";
import type { SetRef } from "./schema.ts";

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
