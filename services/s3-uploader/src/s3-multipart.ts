/**
 * Multipart uploads on `@aws-sdk/client-s3`: parts read straight into a fixed set of part
 * buffers, `queueSize` in flight, each with its SHA-256 for the server to verify; the upload
 * completes only after the reader has checked the whole blob, and is aborted exactly once, best
 * effort, when anything fails. A failed abort never hides the failure that caused it (s3rver
 * answers every abort with MethodNotAllowed).
 *
 * Not lib-storage's Upload: it assembles each part by concatenating stream chunks, two fresh
 * buffers per byte uploaded, which V8 frees late, so its buffers grow with the upload's speed;
 * here they are a flat (queueSize + 1) parts, 40 MiB with the defaults.
 */
import type { BlobReader, Logger } from "@artifact-bus/shared";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  type PutObjectCommandInput,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { s3Error, s3ErrorCode, s3HttpStatus } from "./s3-errors.ts";
import { partSha256, withPayloadSha256 } from "./s3-payload-hash.ts";

export interface MultipartRequest {
  client: S3Client;
  /** Bucket, Key, ContentType, Metadata. */
  params: Pick<PutObjectCommandInput, "Bucket" | "Key" | "ContentType" | "Metadata">;
  /** The blob's bytes; its fill() at the end verifies them. */
  reader: BlobReader;
  /** Bytes the reader will give. */
  size: number;
  /** Where part buffers come from and go back to; their size is the part size. */
  buffers: PartBuffers;
  queueSize: number;
  signal: AbortSignal;
  onProgress(bytesDone: number): void;
  /** Runs right before CompleteMultipartUpload, the step that makes the object visible; may throw. */
  beforeComplete(): Promise<void>;
  log: Logger;
}

export interface MultipartResult {
  etag: string | undefined;
  versionId: string | undefined;
  uploadId: string | undefined;
}

const ABORT_TIMEOUT_MS = 10_000;

/** S3's limit on the parts of one upload. */
export const MAX_PARTS = 10_000;

/**
 * The part size for a blob of `size` bytes: the configured one, or the smallest whole MiB that
 * keeps the upload within MAX_PARTS (8 MiB parts stop at 78 GiB; checkpoints can be larger).
 */
export function partSizeFor(size: number, configured: number): number {
  if (size <= configured * MAX_PARTS) return configured;
  const MiB = 1024 * 1024;
  return Math.ceil(size / MAX_PARTS / MiB) * MiB;
}

/**
 * The part buffers of every upload of a destination, at most `limit` of them at once, reused
 * from one part and one upload to the next. Allocating fresh ones per upload let glibc keep the
 * freed ones in its heap (its mmap threshold rises after the first large free), so each later
 * upload added to the RSS, though the first had fit. Sized per
 * upload instead, four large uploads at once (the default concurrency) held four times
 * (queueSize + 1) parts, 160 MiB; the shared limit keeps the total flat and lets whichever
 * upload is ready use the buffers.
 */
export class PartBuffers {
  readonly partSize: number;
  private readonly limit: number;
  private allocated = 0;
  private readonly idle: Buffer[] = [];
  private readonly waiting: (() => void)[] = [];

  constructor(partSize: number, limit: number) {
    this.partSize = partSize;
    this.limit = Math.max(1, limit);
  }

  /** A buffer of partSize, once one is free or the limit allows a new one. */
  async take(signal: AbortSignal): Promise<Buffer> {
    for (;;) {
      signal.throwIfAborted();
      const buf = this.idle.pop();
      if (buf) return buf;
      if (this.allocated < this.limit) {
        this.allocated++;
        return Buffer.allocUnsafeSlow(this.partSize);
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal.removeEventListener("abort", wake);
          // Gone from the queue either way, so a wake-up is never spent on an aborted waiter.
          const i = this.waiting.indexOf(wake);
          if (i >= 0) this.waiting.splice(i, 1);
          resolve();
        };
        this.waiting.push(wake);
        signal.addEventListener("abort", wake, { once: true });
      });
    }
  }

  /** Returns a buffer no request holds any more. */
  give(buf: Buffer): void {
    this.idle.push(buf);
    this.waiting.shift()?.();
  }
}

interface CompletedPart {
  PartNumber: number;
  ETag: string | undefined;
  ChecksumSHA256: string;
}

/**
 * Uploads the reader's bytes in parts of `buffers.partSize`, `queueSize` at a time. Rejects with the
 * failure that stopped it (the first one: later ones are its echo), after aborting the upload.
 */
export async function uploadMultipart(req: MultipartRequest): Promise<MultipartResult> {
  const { Bucket, Key } = req.params;
  const stop = new AbortController();
  const signal = AbortSignal.any([req.signal, stop.signal]);
  let firstError: unknown;
  const fail = (err: unknown) => {
    firstError ??= err;
    stop.abort(err);
  };
  let uploadId: string | undefined;
  try {
    const created = await req.client.send(
      new CreateMultipartUploadCommand({ ...req.params, ChecksumAlgorithm: "SHA256" }),
      { abortSignal: signal },
    );
    uploadId = created.UploadId;
    req.log.debug({ key: Key, uploadId }, "multipart upload created");
    const parts = await uploadParts(req, uploadId, signal, fail);
    await req.beforeComplete();
    const out = await req.client.send(
      new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
      { abortSignal: signal },
    );
    return { etag: out.ETag, versionId: out.VersionId, uploadId };
  } catch (err) {
    fail(err);
    if (uploadId) await abortUpload(req, uploadId);
    throw firstError;
  }
}

/**
 * Reads and sends every part, `queueSize` in flight and one more being read; each buffer goes
 * back to the shared pool as soon as its request is over.
 */
async function uploadParts(
  req: MultipartRequest,
  uploadId: string | undefined,
  signal: AbortSignal,
  fail: (err: unknown) => void,
): Promise<CompletedPart[]> {
  const parts: CompletedPart[] = [];
  const inflight = new Set<Promise<void>>();
  let done = 0;
  for (let partNumber = 1; ; partNumber++) {
    const buf = await req.buffers.take(signal);
    let n: number;
    try {
      // Reading the next part overlaps with the parts in flight.
      n = await req.reader.fill(buf);
      if (n === 0 && partNumber > 1) {
        req.buffers.give(buf);
        break;
      }
      while (inflight.size >= req.queueSize && !signal.aborted) await Promise.race(inflight);
      signal.throwIfAborted();
    } catch (err) {
      req.buffers.give(buf);
      throw err;
    }
    const body = buf.subarray(0, n);
    const sent = sendPart(req, uploadId, partNumber, body, signal)
      .then((part) => {
        parts.push(part);
        done += n;
        req.onProgress(done);
      }, fail)
      .finally(() => {
        req.buffers.give(buf);
        inflight.delete(sent);
      });
    inflight.add(sent);
    if (n < buf.length) break;
  }
  await Promise.all(inflight);
  signal.throwIfAborted();
  return parts.sort((a, b) => a.PartNumber - b.PartNumber);
}

/** One part, its SHA-256 reused as the signer's payload hash. */
async function sendPart(
  req: MultipartRequest,
  uploadId: string | undefined,
  partNumber: number,
  body: Buffer,
  signal: AbortSignal,
): Promise<CompletedPart> {
  const digest = partSha256(body);
  const ChecksumSHA256 = digest.toString("base64");
  const command = new UploadPartCommand({
    Bucket: req.params.Bucket,
    Key: req.params.Key,
    UploadId: uploadId,
    PartNumber: partNumber,
    Body: body,
    ContentLength: body.length,
    ChecksumSHA256,
  });
  const out = await req.client.send(withPayloadSha256(command, digest.toString("hex")), { abortSignal: signal });
  return { PartNumber: partNumber, ETag: out.ETag, ChecksumSHA256 };
}

/** Aborts the upload once; a failure is logged, not thrown. */
async function abortUpload(req: MultipartRequest, uploadId: string): Promise<void> {
  const { Bucket, Key } = req.params;
  try {
    await req.client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: uploadId }), {
      abortSignal: AbortSignal.timeout(ABORT_TIMEOUT_MS),
    });
  } catch (err) {
    // Parts left behind cost storage, not correctness: cleanupAbandoned() or a bucket
    // lifecycle rule reclaims them, and the final key never shows a partial object.
    req.log.warn(
      { key: Key, uploadId, code: s3ErrorCode(err), status: s3HttpStatus(err) },
      "could not abort multipart upload",
    );
  }
}

/**
 * Aborts multipart uploads under `prefix` started before `olderThanMs` ago: what uploaders
 * that died mid-upload left behind. Returns how many were aborted; 0 where the server cannot
 * list multipart uploads (s3rver answers NotImplemented).
 */
export async function abortAbandonedUploads(
  client: S3Client,
  bucket: string,
  prefix: string,
  olderThanMs: number,
  log: Logger,
  signal?: AbortSignal,
): Promise<number> {
  const cutoff = Date.now() - olderThanMs;
  let aborted = 0;
  let KeyMarker: string | undefined;
  let UploadIdMarker: string | undefined;
  do {
    let page: Awaited<ReturnType<typeof listPage>>;
    try {
      page = await listPage(client, { Bucket: bucket, Prefix: prefix, KeyMarker, UploadIdMarker }, signal);
    } catch (err) {
      if (s3ErrorCode(err) === "NotImplemented" || s3HttpStatus(err) === 501) {
        log.info({ bucket }, "server cannot list multipart uploads; nothing to clean up");
        return aborted;
      }
      throw s3Error(err, `ListMultipartUploads s3://${bucket}/${prefix}`);
    }
    for (const u of page.Uploads ?? []) {
      if (!u.Key || !u.UploadId || !u.Initiated || u.Initiated.getTime() >= cutoff) continue;
      try {
        await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }), {
          abortSignal: signal ?? AbortSignal.timeout(ABORT_TIMEOUT_MS),
        });
        aborted++;
      } catch (err) {
        log.warn({ key: u.Key, uploadId: u.UploadId, code: s3ErrorCode(err) }, "could not abort abandoned upload");
      }
    }
    KeyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    UploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
  } while (KeyMarker);
  return aborted;
}

function listPage(
  client: S3Client,
  input: { Bucket: string; Prefix: string; KeyMarker: string | undefined; UploadIdMarker: string | undefined },
  signal: AbortSignal | undefined,
) {
  return client.send(new ListMultipartUploadsCommand(input), signal ? { abortSignal: signal } : {});
}
