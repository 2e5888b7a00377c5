/**
 * A checkpoint set's pointer (checkpoint-set.ts says what a set is): the name a complete set's
 * pointer is written under, from the destination's template, and which names a template
 * reserves, so that no artifact takes a pointer's place. Producers check names against it at
 * admission (name-rules.ts), the uploader moves the pointer (delivery/set-completion.ts).
 */
import { checkArtifactName } from "./names.ts";
import type { SetRecord } from "./set-record.ts";

/**
 * Where a set's pointer goes by default: `latest` in the set's parent directory. A destination
 * may say otherwise (`setPointer`), from `{dir}` (the set's parent directory, empty at the top),
 * `{set}` (the set's whole name), `{base}` (its last segment) and `{rank}`: with it, one pointer
 * per rank that logged a member of the set (Composer's `{dir}/latest-rank{rank}.pt.symlink`,
 * which each rank's autoresume reads).
 */
export const DEFAULT_POINTER_TEMPLATE = "{dir}/latest";

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
  return pointerPattern(template).test(name);
}

/**
 * Patterns by template, compiled once: each name is checked against every destination's
 * template on each logFile and again before its publish, and compiling a RegExp each time was
 * most of that check's cost.
 */
const pointerPatterns = new Map<string, RegExp>();

/** Every name `template` renders to, as a pattern (compiled once per template). */
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

/** `{dir}/` any parent directory or none, `{set}` any name, `{base}` one segment, `{rank}` a number. */
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
