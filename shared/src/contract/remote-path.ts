/**
 * Remote paths built from a template such as `{project}/{run}/{name}` under a fixed prefix.
 * Every placeholder value is already validated (project/run are subject tokens, name has no
 * `..`, no leading `/`, no backslash), and the result is checked again segment by segment, so a
 * template cannot make a path that escapes its prefix.
 */
import { posix } from "node:path";
import { Type } from "@sinclair/typebox";
import { hasDotSegment } from "./dot-segments.ts";
import { checkRelativePath, InvalidArtifactError } from "./names.ts";
import type { ArtifactEventV1 } from "./schema.ts";
import { artifactKey } from "./subjects.ts";

export const DEFAULT_PATH_TEMPLATE = "{project}/{run}/{name}";

const PLACEHOLDERS = ["project", "run", "name", "level", "rank", "key"] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];

/**
 * The `sharedNamespace` option of every destination that renders paths: without `{project}` in
 * the template, projects write each other's files, so that must be meant.
 */
export const SHARED_NAMESPACE_OPTION = Type.Boolean({
  default: false,
  description:
    "Allow a template without {project}: every project then writes into one namespace, and one project's artifact can overwrite another's",
});

/**
 * Validates a template once, at start-up. It must contain `{project}` unless `sharedNamespace`
 * says the projects share one namespace on purpose.
 */
export function checkPathTemplate(template: string, sharedNamespace = false): string {
  const unknown = [...template.matchAll(/\{([^}]*)\}/g)]
    .map((m) => m[1])
    .filter((p) => !PLACEHOLDERS.includes(p as Placeholder));
  if (unknown.length) {
    throw new InvalidArtifactError(
      "template",
      `unknown placeholder {${unknown[0]}}; use ${PLACEHOLDERS.map((p) => `{${p}}`).join(", ")}`,
    );
  }
  if (!template.includes("{name}"))
    throw new InvalidArtifactError("template", "must contain {name}, or every artifact would share one path");
  if (!template.includes("{project}") && !sharedNamespace) {
    throw new InvalidArtifactError(
      "template",
      "must contain {project}, or one project's artifacts could overwrite another's (set sharedNamespace: true if the projects share one namespace on purpose)",
    );
  }
  return template;
}

/**
 * Normalises a file destination's absolute `root` as its adapter writes under it: `/a/b` (no
 * trailing `/`, nor `.` segments), `/` as it is. Its `..` segments are the adapter's to refuse.
 */
export function normalizeRoot(root: string): string {
  return posix.normalize(root).replace(/(.)\/+$/, "$1");
}

/** Normalises a prefix to `a/b/` (or `` for none); rejects `..` segments. */
export function normalizePrefix(prefix: string): string {
  const segments = prefix.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes(".."))
    throw new InvalidArtifactError("prefix", `${JSON.stringify(prefix)} must not contain '..'`);
  return segments.length ? `${segments.join("/")}/` : "";
}

export interface RenderOptions {
  /**
   * Allow names with a segment that starts with `.` (`.hydra/config.yaml`). Off by default: under
   * a home directory, `{name}` = `.ssh/authorized_keys` would let a producer plant a login key.
   * The topology records it per destination (name-rules.ts), so publishers refuse such names.
   */
  allowDotSegments?: boolean;
}

/**
 * Renders the remote path of an event: `prefix + template(event)`. The part after the prefix is
 * checked again as a relative path, so it stays relative and free of `..`. Its length is the
 * destination's to check (path-limits.ts): what the template adds may take it past the name's limit.
 * Publishers render it here too, from the destination's name rules (name-path-rule.ts).
 */
export function renderRemotePath(
  template: string,
  prefix: string,
  event: Pick<ArtifactEventV1, "project" | "run" | "name" | "level" | "set"> & { producer: { rank?: number } },
  options: RenderOptions = {},
): string {
  if (!options.allowDotSegments && hasDotSegment(event.name, event.set)) {
    throw new InvalidArtifactError(
      "name",
      `${JSON.stringify(event.name)} has a segment starting with '.'; this destination refuses hidden names (option allowDotSegments)`,
    );
  }
  const relative = renderTemplate(template, event);
  checkRelativePath("name", relative);
  return normalizePrefix(prefix) + relative;
}

/**
 * `template` with the event's values in place of its placeholders, unchecked: renderRemotePath
 * checks the result; a publisher measuring the path a destination will write (name-path-rule.ts)
 * needs only its length.
 */
export function renderTemplate(
  template: string,
  event: Pick<ArtifactEventV1, "project" | "run" | "name" | "level"> & { producer: { rank?: number } },
): string {
  const values: Record<Exclude<Placeholder, "key">, string> = {
    project: event.project,
    run: event.run,
    name: event.name,
    level: event.level,
    rank: String(event.producer.rank ?? 0),
  };
  // `{key}` is a sha256 of the name: computed only for a template that has it (publishers
  // render every destination's path on each logFile).
  return template.replace(/\{([a-z]+)\}/g, (_, p: Placeholder) => (p === "key" ? artifactKey(event.name) : values[p]));
}
