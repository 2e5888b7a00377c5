/**
 * Temporary names of destinations that write files (dir, SFTP): an upload writes
 * `.<basename>.<event id>.partial` beside its final name and renames it into place.
 */
import { createHash } from "node:crypto";
import { posix } from "node:path";
import { MAX_FILE_NAME_BYTES } from "./path-limits.ts";

/**
 * `.<basename>.` of a temp file, or `.<hash of the basename>.` where the basename is too long
 * for the temp name (it adds the event id, up to 64 bytes, and 10 more) to stay a legal file name.
 */
export function tempPrefix(base: string, idLength: number): string {
  const fits = Buffer.byteLength(base) + idLength + 11 <= MAX_FILE_NAME_BYTES;
  return `.${fits ? base : createHash("sha256").update(base).digest("hex").slice(0, 32)}.`;
}

/** The temp file event `id` is written to beside `final` (an absolute POSIX path) while it uploads. */
export function tempPath(final: string, id: string): string {
  return posix.join(posix.dirname(final), `${tempPrefix(posix.basename(final), id.length)}${id}.partial`);
}
