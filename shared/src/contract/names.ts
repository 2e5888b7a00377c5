/** Validation of the parts of an artifact key, with messages that name the problem. */
import { LEVELS, type Level, MAX_NAME_BYTES, SUBJECT_TOKEN_PATTERN } from "./schema.ts";

/** Raised for input that can never become valid by retrying. */
export class InvalidArtifactError extends Error {
  override name = "InvalidArtifactError";
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

const TOKEN = new RegExp(SUBJECT_TOKEN_PATTERN);
// C0, DEL and C1 controls; also the line and paragraph separators that break logs.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Checks a project or run id: it becomes a NATS subject token. */
export function checkSubjectToken(field: "project" | "run", value: unknown): string {
  if (typeof value !== "string") throw new InvalidArtifactError(field, `must be a string, got ${typeof value}`);
  if (!TOKEN.test(value)) {
    throw new InvalidArtifactError(
      field,
      `${JSON.stringify(value)} must match ${SUBJECT_TOKEN_PATTERN} (letters, digits, '_' and '-', at most 128, starting with a letter or digit)`,
    );
  }
  return value;
}

export function checkLevel(value: unknown): Level {
  if (!LEVELS.includes(value as Level)) {
    throw new InvalidArtifactError("level", `${JSON.stringify(value)} is not one of ${LEVELS.join(", ")}`);
  }
  return value as Level;
}

/**
 * Checks an artifact name: a relative POSIX path that cannot escape a destination prefix, of at
 * most MAX_NAME_BYTES. Returns it unchanged; names are never silently rewritten, so two names never collide.
 */
export function checkArtifactName(value: unknown): string {
  const field = "name";
  if (typeof value !== "string") throw new InvalidArtifactError(field, `must be a string, got ${typeof value}`);
  const bytes = Buffer.byteLength(value, "utf8");
  if (bytes > MAX_NAME_BYTES)
    throw new InvalidArtifactError(field, `is ${bytes} bytes long; the limit is ${MAX_NAME_BYTES}`);
  return checkRelativePath(field, value);
}

/**
 * Checks that `value` is a relative POSIX path that cannot escape what it is put under: not
 * empty, no control character, backslash, leading `/`, drive letter, `..`, `.` or empty segment.
 * No length limit: that is the name's (checkArtifactName), or the destination's for a rendered path.
 */
export function checkRelativePath(field: string, value: string): string {
  if (value.length === 0) throw new InvalidArtifactError(field, "must not be empty");
  if (CONTROL.test(value)) throw new InvalidArtifactError(field, "must not contain control characters");
  if (value.includes("\\"))
    throw new InvalidArtifactError(field, "must not contain a backslash; use '/' between segments");
  if (value.startsWith("/"))
    throw new InvalidArtifactError(field, `${JSON.stringify(value)} must be relative, not absolute`);
  if (/^[A-Za-z]:/.test(value))
    throw new InvalidArtifactError(field, `${JSON.stringify(value)} looks like a drive path`);
  for (const segment of value.split("/")) {
    if (segment === "..")
      throw new InvalidArtifactError(field, `${JSON.stringify(value)} must not contain a '..' segment`);
    if (segment === "" || segment === ".") {
      throw new InvalidArtifactError(field, `${JSON.stringify(value)} must not contain empty or '.' segments`);
    }
  }
  return value;
}
