/** Decoding and validation of v1 events, shared by publishers and uploaders. */
import { FormatRegistry } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { checkSetMembership } from "./checkpoint-set.ts";
import { checkArtifactName, InvalidArtifactError } from "./names.ts";
import { type ArtifactEventV1, ArtifactEventV1Schema, MAX_METADATA_KEY_CHARS } from "./schema.ts";

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
if (!FormatRegistry.Has("date-time")) {
  FormatRegistry.Set("date-time", (v) => RFC3339.test(v) && !Number.isNaN(Date.parse(v)));
}

const compiled = TypeCompiler.Compile(ArtifactEventV1Schema);

/**
 * Validates an already parsed value as a v1 event. Unknown fields are kept and ignored.
 * Throws {@link InvalidArtifactError} naming the first wrong field.
 */
export function validateEvent(value: unknown): ArtifactEventV1 {
  if (!compiled.Check(value)) {
    const first = compiled.Errors(value).First();
    const path = first?.path ? first.path.replace(/^\//, "").replaceAll("/", ".") : "event";
    throw new InvalidArtifactError(path || "event", first?.message ?? "is not a v1 artifact event");
  }
  checkArtifactName(value.name);
  checkSetMembership(value);
  for (const key of Object.keys(value.metadata)) {
    if (key.length === 0 || key.length > MAX_METADATA_KEY_CHARS) {
      throw new InvalidArtifactError(
        "metadata",
        `key ${JSON.stringify(key.slice(0, 40))}${key.length > 40 ? "..." : ""} must have 1 to ${MAX_METADATA_KEY_CHARS} characters`,
      );
    }
  }
  return value;
}

/** Decodes a message payload (UTF-8 JSON) into a validated v1 event. */
export function decodeEvent(data: Uint8Array): ArtifactEventV1 {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data));
  } catch (err) {
    throw new InvalidArtifactError("event", `payload is not UTF-8 JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new InvalidArtifactError("event", "payload must be a JSON object");
  }
  return validateEvent(parsed);
}

export function encodeEvent(event: ArtifactEventV1): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(event));
}
