/**
 * The rendered-path part of a destination's name rules (name-rules.ts): the template, base and
 * limit of the path it writes an artifact at. A publisher renders the path as the adapter will
 * (renderRemotePath) and refuses one past the limit in the adapter's words (path-limits.ts), so a
 * 1,020-byte name for an S3 destination with prefix `team-a/` is refused when it is logged, not
 * dead-lettered at the destination.
 */
import { posix } from "node:path";
import { filePathProblem, MAX_FILE_PATH_BYTES, MAX_S3_KEY_BYTES, s3KeyProblem } from "./path-limits.ts";
import { DEFAULT_PATH_TEMPLATE, normalizePrefix, normalizeRoot, renderTemplate } from "./remote-path.ts";
import type { ArtifactEventV1 } from "./schema.ts";
import { tempPath } from "./temp-names.ts";

/**
 * Where a destination writes an artifact: recorded whole (template, limit and one base) or not
 * at all (records of older versions, destinations that render no path: no check).
 */
export interface PathRule {
  /** The template it renders (S3's `keyTemplate`, SFTP's and dir's `pathTemplate`), e.g. `{project}/{run}/{name}`. */
  pathTemplate: string;
  /** S3's `prefix`, normalised (`team-a/`, or `` for none): the key is the prefix and the rendered template. */
  prefix?: string;
  /** A file destination's `root`, normalised (`/srv/artifacts`): the path is the root joined with the rendered template. */
  root?: string;
  /** The longest path it can write, in UTF-8 bytes: 1,024 for an S3 key, 4,095 (PATH_MAX) for a file path. */
  maxPathBytes: number;
}

/** What the rendered path depends on: the event's names, its producer's rank, and (for a temp name) its id. */
export type PathEvent = Pick<ArtifactEventV1, "project" | "run" | "name" | "level"> & {
  producer?: { rank?: number };
  /** The event id: a file destination's temp name holds it. Absent: only the final path is checked. */
  id?: string;
};

const text = (v: unknown) => (typeof v === "string" ? v : undefined);

/** The path rule of a destination of `kind` with `options` (as its adapter reads them); `{}` for none. */
export function pathRuleOf(kind: string, options: Record<string, unknown>): Partial<PathRule> {
  try {
    if (kind === "s3") {
      const pathTemplate = text(options.keyTemplate) ?? DEFAULT_PATH_TEMPLATE;
      return { pathTemplate, prefix: normalizePrefix(text(options.prefix) ?? ""), maxPathBytes: MAX_S3_KEY_BYTES };
    }
    const root = text(options.root);
    if ((kind === "sftp" || kind === "dir") && root?.startsWith("/")) {
      const pathTemplate = text(options.pathTemplate) ?? DEFAULT_PATH_TEMPLATE;
      return { pathTemplate, root: normalizeRoot(root), maxPathBytes: MAX_FILE_PATH_BYTES };
    }
  } catch {
    // A prefix with `..`: the adapter refuses the config, there is no path to check.
  }
  return {};
}

/** The path rule of a parsed `rules.<token>` record: whole, or `{}` when a part is missing or of another type. */
export function parsePathRule(v: Record<string, unknown>): Partial<PathRule> {
  const { pathTemplate, prefix, root, maxPathBytes } = v;
  if (typeof pathTemplate !== "string" || typeof maxPathBytes !== "number") return {};
  if (typeof prefix === "string") return { pathTemplate, prefix, maxPathBytes };
  if (typeof root === "string") return { pathTemplate, root, maxPathBytes };
  return {};
}

/**
 * Why the destination of `rule` cannot write `event` (its path, rendered as the adapter renders
 * it, is past the limit), in the adapter's words; undefined when it can, or no rule is recorded.
 */
export function pathRuleBroken(event: PathEvent, rule: Partial<PathRule>): string | undefined {
  const { pathTemplate: template, maxPathBytes: max, prefix, root } = rule;
  if (template === undefined || max === undefined || (prefix === undefined && root === undefined)) return undefined;
  // Only the length counts here: what else makes a path invalid (dot segments, `..`) is another
  // rule's, or the adapter's, to say; and this runs for every destination on each logFile.
  const relative = renderTemplate(template, { ...event, producer: event.producer ?? {} });
  if (prefix !== undefined) {
    return s3KeyProblem(
      prefix + relative,
      { name: event.name, template, base: { label: "prefix", value: prefix } },
      max,
    );
  }
  const base = root as string;
  const final = posix.join(base, relative);
  const temp = event.id === undefined ? final : tempPath(final, event.id);
  return filePathProblem(
    final,
    relative,
    { name: event.name, template, base: { label: "root", value: base } },
    temp,
    max,
  );
}
