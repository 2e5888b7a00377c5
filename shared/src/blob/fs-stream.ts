/**
 * Staging bytes that arrive as a stream (an HTTP request body) into the fs store: hashed on
 * their way into a temp file, which gets the blob's name only once complete and checked. What
 * streams cut short leave behind is swept by fs-sweep.ts.
 */
import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { blobKey } from "../contract/blob-key.ts";
import type { BlobRef } from "../contract/schema.ts";
import { digestOf, SMALL_FILE_BYTES } from "./bounded-read.ts";
import { commitBlob, commitBlobSync, inRunDir, tempName, unlinkIfPresent, writeInRunDir } from "./fs-run-dir.ts";
import { type Digest, StreamingHash } from "./hash.ts";
import { releasingFileWriter } from "./releasing-writer.ts";
import { BlobDigestMismatchError, type StageStreamRequest } from "./store.ts";

/** Suffix of the temp files stageStream writes (they also start with TEMP_PREFIX). */
export const STREAM_TEMP_SUFFIX = ".stream";

/**
 * Stages the bytes of `source` into the staging dir `dir` as BlobStore.stageStream describes:
 * on any failure `source` is destroyed, nothing is left staged, and the error is rethrown.
 */
export async function stageStreamInDir(dir: string, source: Readable, req: StageStreamRequest): Promise<BlobRef> {
  const ref = blobKey(req.project, req.run, req.id);
  const runDir = join(dir, req.project, req.run);
  const temp = join(runDir, `${tempName(req.id)}${STREAM_TEMP_SUFFIX}`);
  try {
    let digest: Digest;
    if (req.sizeHint !== undefined && req.sizeHint <= SMALL_FILE_BYTES) {
      // One call on the thread pool (creating the file) and a few synchronous ones cost a small
      // body less than a stream's many asynchronous calls (see writeInRunDir).
      const chunks: Buffer[] = [];
      for await (const chunk of source as AsyncIterable<Buffer>) chunks.push(chunk);
      const bytes = Buffer.concat(chunks);
      digest = digestOf(bytes);
      if (req.expectedSha256 !== undefined && digest.sha256 !== req.expectedSha256) {
        throw new BlobDigestMismatchError(req.expectedSha256, digest.sha256);
      }
      await writeInRunDir(runDir, temp, bytes);
      commitBlobSync(temp, join(runDir, req.id), ref, digest.sha256);
      return { store: "fs", ref, size: digest.size, sha256: digest.sha256 };
    }
    // Read-only from creation on; the descriptor opened here still writes.
    const out = await inRunDir(runDir, () => open(temp, "wx", 0o444));
    digest = await writeHashed(source, out, req);
    await commitBlob(temp, join(runDir, req.id), ref, digest.sha256);
    return { store: "fs", ref, size: digest.size, sha256: digest.sha256 };
  } catch (err) {
    source.destroy();
    await unlinkIfPresent(temp).catch(() => {});
    throw err;
  }
}

/**
 * Writes `source` to the open file `out` (which it closes), hashing every chunk on its way;
 * throws BlobDigestMismatchError when `expectedSha256` is given and differs. The caller removes
 * the file on any failure.
 */
async function writeHashed(
  source: Readable,
  out: FileHandle,
  { expectedSha256, releaseChunks }: StageStreamRequest,
): Promise<Digest> {
  const hash = new StreamingHash();
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  // The writer owns the handle and closes it, after an error too. Chunks are hashed before they
  // reach it, so a released chunk was hashed and written.
  const writer = releaseChunks ? releasingFileWriter(out, WRITE_BUFFER_BYTES) : out.createWriteStream(WRITE_OPTIONS);
  await pipeline(source, hashing, writer);
  const digest = hash.digest();
  if (expectedSha256 !== undefined && digest.sha256 !== expectedSha256) {
    throw new BlobDigestMismatchError(expectedSha256, digest.sha256);
  }
  return digest;
}

/** Bytes queued for the file before the source is paused. */
const WRITE_BUFFER_BYTES = 1 << 20;
const WRITE_OPTIONS = { highWaterMark: WRITE_BUFFER_BYTES };
