/**
 * Reads a blob bucket in the JetStream object store's own layout (ADR-20: metadata on
 * `$O.<bucket>.M.<base64url name>`, chunks on `$O.<bucket>.C.<nuid>`) with stream message gets
 * only. The object store client reads chunks through an ephemeral consumer, and a consumer's
 * create subject names its stream, so a reader of every project's bucket would need the right to
 * create consumers on every stream, the events stream included. A message get only reads.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { Base64UrlPaddedCodec } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { nextMessageData, scanMessages } from "../nats/message-scan.ts";

/** An object's metadata message, as the object store client writes it. */
export interface ObjectMeta {
  name: string;
  description?: string;
  bucket: string;
  nuid: string;
  size: number;
  chunks: number;
  /** `SHA-256=<base64url digest>` */
  digest: string;
  /** RFC 3339; set when the put completed. */
  mtime: string;
  deleted?: boolean;
  options?: { max_chunk_size?: number };
  headers?: Record<string, string[]>;
}

/** A bucket's stream and subjects. */
export interface Bucket {
  bucket: string;
  stream: string;
}

export function metaSubject(b: Bucket, name: string): string {
  return `$O.${b.bucket}.M.${Base64UrlPaddedCodec.encode(name)}`;
}

export function chunkSubject(b: Bucket, nuid: string): string {
  return `$O.${b.bucket}.C.${nuid}`;
}

/**
 * The newest metadata of `name`, with its stream sequence; null when there is none. A missing
 * bucket rejects with JetStream's "stream not found" (JetStreamApiError code 10059).
 */
export async function readMeta(
  jsm: JetStreamManager,
  b: Bucket,
  name: string,
): Promise<{ meta: ObjectMeta; seq: number } | null> {
  const m = await jsm.streams.getMessage(b.stream, { last_by_subj: metaSubject(b, name) });
  return m && { meta: m.json<ObjectMeta>(), seq: m.seq };
}

/**
 * The bytes of an object, chunk by chunk in stream order, until its size is reached. Chunks that
 * run out early mean the object was removed meanwhile: that rejects with `onMissing()`'s error.
 * The sha256 is not checked here: the uploader checks the bytes against the event's own digest.
 */
export async function* readChunks(
  nc: NatsConnection,
  b: Bucket,
  meta: ObjectMeta,
  onMissing: () => Error,
): AsyncGenerator<Uint8Array> {
  let seq = 0;
  let got = 0;
  const subject = chunkSubject(b, meta.nuid);
  while (got < meta.size) {
    // Raw: the client's decoding of a chunk-sized payload would make a large read much slower.
    const m = await nextMessageData(nc, b.stream, { subject, fromSeq: seq + 1 });
    // None left, or an empty rollup, or no bucket: removed while being read.
    if (m === null || m.data.length === 0) throw onMissing();
    seq = m.seq;
    got += m.data.length;
    yield m.data;
  }
}

/** Every object's newest metadata in a bucket, deleted ones included, in stream order. */
export async function* listMetas(jsm: JetStreamManager, b: Bucket): AsyncGenerator<ObjectMeta> {
  // Every metadata write is a rollup, so each name's one message is its newest.
  for await (const m of scanMessages(jsm, b.stream, `$O.${b.bucket}.M.>`)) yield m.json<ObjectMeta>();
}
