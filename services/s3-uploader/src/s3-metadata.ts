/**
 * User metadata (`x-amz-meta-*`) for an artifact object. HTTP headers carry only visible ASCII,
 * S3 lowercases keys, and all user metadata together may hold at most 2 KB, so event metadata
 * is encoded and, past the limit, partly dropped rather than failing the upload.
 */
import type { ArtifactEventV1 } from "@artifact-bus/shared";

/** S3's limit: the UTF-8 bytes of every user metadata key and value, summed. */
export const METADATA_LIMIT_BYTES = 2048;

/** Keys the uploader sets itself; an event's own metadata cannot override them. */
export const RESERVED_KEYS = ["artifact-sha256", "artifact-event-id", "artifact-name"] as const;

export interface ObjectMetadata {
  metadata: Record<string, string>;
  /** Event metadata keys left out because the total would pass the limit. */
  dropped: string[];
}

/** Percent-encodes every byte outside `keep`, as encodeURIComponent does for its own set. */
function percentEncode(text: string, keep: RegExp): string {
  let out = "";
  for (const ch of text) {
    if (keep.test(ch)) out += ch;
    else for (const byte of Buffer.from(ch, "utf8")) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** A header-safe key: lowercase letters, digits, `-`, `_`, `.`; anything else percent-encoded. */
export function metadataKey(key: string): string {
  return percentEncode(key.toLowerCase(), /^[a-z0-9._-]$/);
}

/**
 * A header-safe value. Printable ASCII without `%` passes as is; a value with anything else
 * (non-ASCII, controls, edge whitespace that HTTP would trim, `%`) is stored as
 * encodeURIComponent makes it. So a reader restores every value with `decodeURIComponent`.
 */
export function metadataValue(value: string): string {
  if (value === "" || /^[\x21-\x24\x26-\x7e]([\x20-\x24\x26-\x7e]*[\x21-\x24\x26-\x7e])?$/.test(value)) return value;
  return encodeURIComponent(value);
}

function bytes(key: string, value: string): number {
  return Buffer.byteLength(key) + Buffer.byteLength(value);
}

/** The metadata of the object an event uploads: the reserved keys first, then the event's own. */
export function objectMetadata(event: Pick<ArtifactEventV1, "id" | "name" | "blob" | "metadata">): ObjectMetadata {
  const metadata: Record<string, string> = {
    "artifact-sha256": event.blob.sha256,
    "artifact-event-id": event.id,
  };
  let used = Object.entries(metadata).reduce((n, [k, v]) => n + bytes(k, v), 0);
  const dropped: string[] = [];
  const name = metadataValue(event.name);
  // A 1024-byte non-ASCII name encodes to ~3 KB; the key and checksum matter more than a copy of it.
  if (used + bytes("artifact-name", name) <= METADATA_LIMIT_BYTES) {
    metadata["artifact-name"] = name;
    used += bytes("artifact-name", name);
  }
  for (const [rawKey, rawValue] of Object.entries(event.metadata).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const key = metadataKey(rawKey);
    const value = metadataValue(rawValue);
    if (key === "" || key in metadata || used + bytes(key, value) > METADATA_LIMIT_BYTES) {
      dropped.push(rawKey);
      continue;
    }
    metadata[key] = value;
    used += bytes(key, value);
  }
  return { metadata, dropped };
}
