/**
 * Multipart uploads through `@aws-sdk/lib-storage`, with the clean-up lib-storage leaves to its
 * caller: the caller's signal reaches every part request, the UploadId is recorded when the
 * upload is created, and a failed upload is aborted exactly once, best effort. A failed abort
 * must never hide the failure that caused it (s3rver answers every abort with MethodNotAllowed).
 */
import type { Readable } from "node:stream";
import type { Logger } from "@artifact-bus/shared";
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  type PutObjectCommandInput,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { s3Error, s3ErrorCode, s3HttpStatus } from "./s3-errors.ts";

export interface MultipartRequest {
  client: S3Client;
  /** Bucket, Key, ContentType, Metadata, ContentLength; Body and checksum are set here. */
  params: Omit<PutObjectCommandInput, "Body">;
  body: Readable;
  partSize: number;
  queueSize: number;
  signal: AbortSignal;
  onProgress(bytesDone: number): void;
  log: Logger;
}

export interface MultipartResult {
  etag: string | undefined;
  versionId: string | undefined;
  /** Undefined when the body fit in one part and lib-storage used a single PutObject. */
  uploadId: string | undefined;
}

const ABORT_TIMEOUT_MS = 10_000;

/** One multipart upload's view of the client; see the module comment. */
class MultipartScope {
  uploadId: string | undefined;
  /** The first request that failed: the cause, where later failures are only its echo. */
  firstError: unknown;
  private aborted = false;
  private readonly req: MultipartRequest;
  private readonly stop = new AbortController();
  private readonly signal: AbortSignal;

  constructor(req: MultipartRequest) {
    this.req = req;
    this.signal = AbortSignal.any([req.signal, this.stop.signal]);
  }

  /** A client for lib-storage whose `send` goes through this scope; config is the real one's. */
  client(): S3Client {
    const scoped = Object.create(this.req.client) as S3Client;
    scoped.send = ((command: unknown) => this.send(command)) as S3Client["send"];
    return scoped;
  }

  private async send(command: unknown): Promise<unknown> {
    // lib-storage aborts on its own when a part fails; route that through the one tolerant abort.
    if (command instanceof AbortMultipartUploadCommand) return this.abort().then(() => ({}));
    const client = this.req.client as { send(c: unknown, o: { abortSignal: AbortSignal }): Promise<unknown> };
    let out: unknown;
    try {
      out = await client.send(command, { abortSignal: this.signal });
    } catch (err) {
      this.fail(err);
      throw err;
    }
    if (command instanceof CreateMultipartUploadCommand) {
      this.uploadId = (out as { UploadId?: string }).UploadId;
      this.req.log.debug({ key: this.req.params.Key, uploadId: this.uploadId }, "multipart upload created");
    }
    return out;
  }

  /**
   * lib-storage lets its other workers read and upload the rest of the body after one part
   * failed; for a checkpoint of many GiB that is a lot of wasted traffic. Stop them all.
   */
  private fail(err: unknown): void {
    if (this.firstError !== undefined) return;
    this.firstError = err;
    this.stop.abort(err);
    this.req.body.destroy();
  }

  /** Aborts the recorded upload once; a failure is logged, not thrown. */
  async abort(): Promise<void> {
    if (!this.uploadId || this.aborted) return;
    this.aborted = true;
    const { Bucket, Key } = this.req.params;
    try {
      await this.req.client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: this.uploadId }), {
        abortSignal: AbortSignal.timeout(ABORT_TIMEOUT_MS),
      });
    } catch (err) {
      // Parts left behind cost storage, not correctness: cleanupAbandoned() or a bucket
      // lifecycle rule reclaims them, and the final key never shows a partial object.
      this.req.log.warn(
        { key: Key, uploadId: this.uploadId, code: s3ErrorCode(err), status: s3HttpStatus(err) },
        "could not abort multipart upload",
      );
    }
  }
}

/**
 * Uploads `body` in parts of `partSize`, `queueSize` at a time (memory: about their product),
 * each part carrying its SHA-256 so the server verifies it. Rejects with the failure that
 * stopped it, after aborting the multipart upload.
 */
export async function uploadMultipart(req: MultipartRequest): Promise<MultipartResult> {
  const scope = new MultipartScope(req);
  const upload = new Upload({
    client: scope.client(),
    params: { ...req.params, Body: req.body, ChecksumAlgorithm: "SHA256" },
    partSize: req.partSize,
    queueSize: req.queueSize,
    leavePartsOnError: false,
  });
  upload.on("httpUploadProgress", (p) => req.onProgress(p.loaded ?? 0));
  try {
    const out = await upload.done();
    return { etag: out.ETag, versionId: out.VersionId, uploadId: scope.uploadId };
  } catch (err) {
    await scope.abort();
    throw scope.firstError ?? err;
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
