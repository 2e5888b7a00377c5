/**
 * Blobs sent as one PutObject: below one part read whole into a buffer of their own, and from one
 * part up to `uploadCutoffBytes` read into buffers of the destination's shared pool. Either way
 * the bytes are read and verified (the reader's fill that reaches the blob's size checks its
 * sha256) before the request goes out, so a corrupt blob never reaches the key even on servers
 * that write a PUT in place (s3rver) or do not check the checksum; the blob's sha256 goes with
 * it as ChecksumSHA256 and as SigV4's payload hash.
 *
 * Why a whole PUT at all past one part: s3rver (and any store that assembles parts by copying)
 * writes a multipart object twice, the parts and then the object; a whole PUT is written once
 * (bench/RESULTS.md, Checkpoint sets). Not streamed from the blob as read: a failed check or a
 * lost lease mid-stream would leave a partial object at the key on such servers.
 *
 * The pooled body is a list of buffers, which no stream can be sent twice from; each attempt of
 * the SDK's retry gets a fresh stream over the same buffers (replayableBody), so a retried PUT
 * sends every byte again.
 */

import { Readable } from "node:stream";
import { type BlobReader, PermanentError } from "@artifact-bus/shared";
import { PutObjectCommand, type PutObjectCommandInput, type S3Client } from "@aws-sdk/client-s3";
import type { PartBuffers } from "./s3-part-buffers.ts";
import { withPayloadSha256 } from "./s3-payload-hash.ts";

export type PutParams = Pick<PutObjectCommandInput, "Bucket" | "Key" | "ContentLength" | "ContentType" | "Metadata">;

export interface PutResult {
  etag: string | undefined;
  versionId: string | undefined;
}

export interface PooledPutRequest {
  client: S3Client;
  params: PutParams;
  /** The blob's bytes, verified: the fill that reaches `size` checks them against `sha256`. */
  reader: BlobReader;
  size: number;
  /** The event's sha256, hex. */
  sha256: string;
  buffers: PartBuffers;
  signal: AbortSignal;
  /** Bytes handed to the connection so far (rises only; a retry does not report again). */
  onProgress(bytesDone: number): void;
  /** Runs right before the PUT, the step that makes the object visible; may throw. */
  beforePut(): Promise<void>;
}

/**
 * Reads the blob into ceil(size / partSize) buffers of the pool, taken together (the pool holds
 * at least that many: parseS3Options sizes it from the cutoff), and sends them as one PutObject
 * once the read has verified them. The buffers go back to the pool when the request is over.
 */
export async function putPooled(req: PooledPutRequest): Promise<PutResult> {
  const count = Math.max(1, Math.ceil(req.size / req.buffers.partSize));
  const bufs = await req.buffers.takeMany(count, req.signal);
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (const buf of bufs) {
      const n = await req.reader.fill(buf);
      total += n;
      chunks.push(buf.subarray(0, n));
      if (n < buf.length) break;
    }
    // The reader verified size and sha256 at the fill that reached the size; a reader that
    // stopped short without saying so is no less a blob that differs from its event.
    if (total !== req.size) throw new PermanentError(`staged blob gave ${total} bytes, the event says ${req.size}`);
    await req.beforePut();
    let best = 0;
    const progress = (n: number) => {
      if (n <= best) return;
      best = n;
      req.onProgress(n);
    };
    return await putVerified(req.client, req.params, chunks, req.sha256, req.signal, progress);
  } finally {
    for (const b of bufs) req.buffers.give(b);
  }
}

/**
 * One PutObject of bytes already checked against `sha256Hex`: a buffer, or buffers sent in
 * order. Both can be sent again by the SDK's retry.
 */
export async function putVerified(
  client: S3Client,
  params: PutParams,
  body: Buffer | Buffer[],
  sha256Hex: string,
  signal: AbortSignal,
  onProgress?: (bytesDone: number) => void,
): Promise<PutResult> {
  const ChecksumSHA256 = Buffer.from(sha256Hex, "hex").toString("base64");
  const command = new PutObjectCommand({
    ...params,
    // A placeholder the SDK passes through untouched; replayableBody swaps in a stream per attempt.
    Body: Array.isArray(body) ? (new PooledBody(body) as unknown as Uint8Array) : body,
    ChecksumSHA256,
  });
  if (Array.isArray(body)) replayableBody(command, onProgress);
  // The bytes were just checked against this very sha256: the signer need not hash them again.
  const out = await client.send(withPayloadSha256(command, sha256Hex), { abortSignal: signal });
  return { etag: out.ETag, versionId: out.VersionId };
}

/** The buffers of a pooled PUT, as the request's body until replayableBody turns them into a stream. */
class PooledBody {
  readonly chunks: readonly Buffer[];
  constructor(chunks: readonly Buffer[]) {
    this.chunks = chunks;
  }
}

interface Stack {
  middlewareStack: {
    add(
      mw: (next: (args: { request: unknown }) => Promise<unknown>) => (args: { request: unknown }) => Promise<unknown>,
      options: { step: "deserialize"; name: string; priority: "low" },
    ): void;
  };
}

/**
 * Gives every attempt of `command` a fresh stream over its PooledBody's buffers. In the
 * deserialize step, below the retry (finalizeRequest), on a copy of the request: the request the
 * retry sees keeps the PooledBody, which it does not take for a stream it cannot resend (it sends
 * a stream body only once), and the next attempt starts from the first byte again.
 */
function replayableBody(command: unknown, onProgress?: (bytesDone: number) => void): void {
  (command as Stack).middlewareStack.add(
    (next) => (args) => {
      const request = args.request as { body?: unknown };
      if (!(request.body instanceof PooledBody)) return next(args);
      const attempt = Object.assign(Object.create(Object.getPrototypeOf(request)), request, {
        body: Readable.from(sendChunks(request.body.chunks, onProgress), { objectMode: false }),
      });
      return next({ ...args, request: attempt });
    },
    { step: "deserialize", name: "artifactBusReplayableBody", priority: "low" },
  );
}

function* sendChunks(chunks: readonly Buffer[], onProgress?: (bytesDone: number) => void): Generator<Buffer> {
  let sent = 0;
  for (const chunk of chunks) {
    yield chunk;
    // Asked for the next chunk: the connection took this one.
    sent += chunk.length;
    onProgress?.(sent);
  }
}
