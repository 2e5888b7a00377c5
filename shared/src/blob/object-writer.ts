/**
 * Writes an object in the JetStream object store's layout (readable by any object store
 * client), so that a staging put rides through a leader election: each chunk and the metadata
 * carry a Nats-Msg-Id, so a publish whose PubAck was lost is sent again without adding a second
 * copy of the chunk. The object store client's own put cannot: it gives up at the first timeout,
 * and then purges the stream to clean up, a right no trainer has, whose refusal replaced the real
 * error. Here a failed put is cleaned up with a rollup of its own chunk subject, which needs only
 * the publish right the put already used.
 *
 * An object is never replaced: its event may be published, and its sha256 with it. The metadata
 * is written only if its subject still holds what was read before the chunks were sent (nothing,
 * or a delete marker), so of two writers of one name at most one wins; the other gets
 * BlobExistsError, its chunks rolled up.
 */
import { createHash } from "node:crypto";
import { JetStreamApiError, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Base64UrlPaddedCodec } from "@nats-io/obj";
import { headers, nuid } from "@nats-io/transport-node";
import { type Bucket, chunkSubject, metaSubject, type ObjectMeta, readMeta } from "./object-reader.ts";
import { BlobBucketMissingError, rideThrough, STREAM_NOT_FOUND } from "./staging-errors.ts";
import { BlobExistsError } from "./store.ts";

/** Where and how to write. */
export interface ObjectWrite extends Bucket {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The project owning the bucket, for BlobBucketMissingError. */
  project: string;
  /** Bytes per chunk (one JetStream message each). */
  chunkBytes: number;
  /** How long one step (a chunk, the metadata) may wait for the bucket before it fails. */
  stepTimeoutMs: number;
}

/** A rollup replaces every message on its subject by itself: how objects and chunks are removed. */
export function rollupHeaders() {
  const h = headers();
  h.set("Nats-Rollup", "sub");
  return h;
}

/**
 * Streams `source` into the object `name` and returns its metadata. The object becomes visible
 * only when the metadata is written, after the last chunk. A source that fails, or a step the
 * bucket refuses or leaves unconfirmed past `stepTimeoutMs`, rejects with that error (a staging
 * error class for the bucket's), after the chunks already sent are rolled up.
 */
export async function writeObject(
  w: ObjectWrite,
  name: string,
  source: AsyncIterable<Uint8Array>,
): Promise<ObjectMeta> {
  const what = `staging nats:${name}`;
  const step = <T>(label: string, f: (timeoutMs: number) => Promise<T>) =>
    rideThrough(f, { deadline: Date.now() + w.stepTimeoutMs, what: `${what} (${label})` });
  // Whether the bucket exists, and whether the name is taken (an id staged again).
  const old = await step("bucket lookup", () =>
    readMeta(w.jsm, w, name).catch((err) => {
      if (err instanceof JetStreamApiError && err.code === STREAM_NOT_FOUND) {
        throw new BlobBucketMissingError(w.project, w.bucket, { cause: err });
      }
      throw err;
    }),
  );
  if (old && !old.meta.deleted) throw new BlobExistsError(name);
  const id = nuid.next();
  const chunks = chunkSubject(w, id);
  const sha = createHash("sha256");
  let size = 0;
  let count = 0;
  try {
    for await (const chunk of rechunk(source, w.chunkBytes)) {
      sha.update(chunk);
      size += chunk.length;
      count++;
      const msgID = `${id}.${count}`;
      await step(`chunk ${count}`, (timeout) => w.js.publish(chunks, chunk, { msgID, timeout }));
    }
    const digest = sha.digest();
    const meta: ObjectMeta = {
      name,
      description: "",
      bucket: w.bucket,
      nuid: id,
      size,
      chunks: count,
      digest: `SHA-256=${Base64UrlPaddedCodec.encode(digest)}`,
      mtime: new Date().toISOString(),
      deleted: false,
      options: { max_chunk_size: w.chunkBytes },
    };
    const data = JSON.stringify(meta);
    // A retry of a publish whose PubAck was lost is deduplicated by its msgID before the check.
    const expect = { lastSubjectSequence: old?.seq ?? 0 };
    await step("metadata", (timeout) =>
      w.js.publish(metaSubject(w, name), data, { msgID: `${id}.meta`, timeout, headers: rollupHeaders(), expect }),
    ).catch((err: unknown) => {
      if (isWrongLastSequence((err as Error).cause)) throw new BlobExistsError(name, digest.toString("hex"));
      throw err;
    });
    return meta;
  } catch (err) {
    // Never replaces `err`: a clean-up that fails leaves the chunks to the bucket's max age.
    if (count > 0) await rollUp(w, chunks);
    throw err;
  }
}

/** The server's answer to a publish whose expected last subject sequence moved: another writer won. */
function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError ? err.code === 10071 : /wrong last sequence/i.test(String(err));
}

/** Best effort, one try: replaces every message on `subject` by one empty message. */
async function rollUp(w: ObjectWrite, subject: string): Promise<void> {
  await w.js.publish(subject, new Uint8Array(0), { headers: rollupHeaders(), timeout: 2000 }).catch(() => undefined);
}

/** Regroups a stream's pieces into chunks of exactly `size` bytes, the last one shorter. */
async function* rechunk(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let parts: Uint8Array[] = [];
  let held = 0;
  for await (const piece of source) {
    let rest = piece;
    while (held + rest.length >= size) {
      const take = size - held;
      parts.push(rest.subarray(0, take));
      yield Buffer.concat(parts, size);
      rest = rest.subarray(take);
      parts = [];
      held = 0;
    }
    if (rest.length > 0) {
      // Copied: the source may reuse its buffer for the next piece.
      parts.push(Buffer.from(rest));
      held += rest.length;
    }
  }
  if (held > 0) yield Buffer.concat(parts, held);
}
