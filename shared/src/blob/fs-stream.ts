/**
 * Staging bytes that arrive as a stream (an HTTP request body) into the fs store, and sweeping
 * what streams cut short left behind. A streamed temp file is written to continuously while its
 * client sends, so one whose mtime stopped moving belongs to a request that died (a client gone,
 * a gateway killed): unlike a trainer's linked file, its age says whether anyone still owns it.
 */

import type { FileHandle } from "node:fs/promises";
import { readdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type Digest, StreamingHash } from "./hash.ts";
import { BlobDigestMismatchError } from "./store.ts";

/** Suffix of the temp files stageStream writes (they also start with TEMP_PREFIX). */
export const STREAM_TEMP_SUFFIX = ".stream";

/**
 * Writes `source` to the open file `out` (which it closes), hashing every chunk on its way;
 * throws BlobDigestMismatchError when `expectedSha256` is given and differs. The caller removes
 * the file on any failure.
 */
export async function writeHashed(source: Readable, out: FileHandle, expectedSha256?: string): Promise<Digest> {
  const hash = new StreamingHash();
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  // The write stream owns the handle and closes it, after an error too.
  await pipeline(source, hashing, out.createWriteStream({ highWaterMark: 1 << 20 }));
  const digest = hash.digest();
  if (expectedSha256 !== undefined && digest.sha256 !== expectedSha256) {
    throw new BlobDigestMismatchError(expectedSha256, digest.sha256);
  }
  return digest;
}

/**
 * Removes streamed temp files under `dir` (`<project>/<run>/<temp>`) not written to for
 * `idleMs`; returns how many. Best effort: a file that vanishes meanwhile is not an error.
 */
export async function sweepStreamTemps(dir: string, idleMs: number, isTemp: (name: string) => boolean) {
  const cutoff = Date.now() - idleMs;
  let removed = 0;
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isFile() || !isTemp(e.name) || !e.name.endsWith(STREAM_TEMP_SUFFIX)) continue;
    const path = join(e.parentPath, e.name);
    const st = await stat(path).catch(() => undefined);
    if (!st || st.mtimeMs >= cutoff) continue;
    if (
      await unlink(path).then(
        () => true,
        () => false,
      )
    )
      removed++;
  }
  return removed;
}
