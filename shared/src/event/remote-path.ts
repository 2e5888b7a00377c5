/**
 * Remote paths built from a template such as `{project}/{run}/{name}` under a fixed prefix.
 * Every placeholder value is already validated (project/run are subject tokens, name has no
 * `..`, no leading `/`, no backslash), and the result is checked again segment by segment, so a
 * template cannot make a path that escapes its prefix.
 */
import { checkArtifactName, InvalidArtifactError } from "./names.ts";
import type { ArtifactEventV1 } from "./schema.ts";

export const DEFAULT_PATH_TEMPLATE = "{project}/{run}/{name}";

const PLACEHOLDERS = ["project", "run", "name", "level", "rank", "key"] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];

/** Validates a template once, at start-up. */
export function checkPathTemplate(template: string): string {
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
  return template;
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
   */
  allowDotSegments?: boolean;
}

/**
 * Renders the remote path of an event: `prefix + template(event)`. The part after the prefix is
 * re-validated as an artifact name, so it stays relative and free of `..`.
 */
export function renderRemotePath(
  template: string,
  prefix: string,
  event: Pick<ArtifactEventV1, "project" | "run" | "name" | "level" | "producer">,
  key = "",
  options: RenderOptions = {},
): string {
  if (!options.allowDotSegments && event.name.split("/").some((s) => s.startsWith("."))) {
    throw new InvalidArtifactError(
      "name",
      `${JSON.stringify(event.name)} has a segment starting with '.'; this destination refuses hidden names (option allowDotSegments)`,
    );
  }
  const values: Record<Placeholder, string> = {
    project: event.project,
    run: event.run,
    name: event.name,
    level: event.level,
    rank: String(event.producer.rank ?? 0),
    key,
  };
  const relative = template.replace(/\{([a-z]+)\}/g, (_, p: Placeholder) => values[p]);
  checkArtifactName(relative);
  return normalizePrefix(prefix) + relative;
}
