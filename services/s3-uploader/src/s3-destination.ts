/**
 * The S3 destination: one object per artifact under `prefix + keyTemplate`. Blobs up to
 * `uploadCutoffBytes` go in one PutObject (s3-whole-put.ts), larger ones as a multipart upload
 * (s3-multipart.ts); both are atomic at the final key (S3 shows a multipart object only once it
 * is completed), and both carry the blob's SHA-256, known since staging, so S3 and MinIO reject
 * bytes that differ from what the trainer logged.
 */
import type {
  Artifact,
  ArtifactEventV1,
  BlobReader,
  ByteRange,
  Destination,
  RemoteContent,
  UploadContext,
  UploadReceipt,
} from "@artifact-bus/shared";
import {
  createLogger,
  type Logger,
  normalizePrefix,
  PermanentError,
  renderRemotePath,
  s3KeyProblem,
  TransientError,
} from "@artifact-bus/shared";
import { DeleteObjectCommand, HeadBucketCommand, S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { abortAbandonedUploads } from "./s3-abandoned.ts";
import { s3Error } from "./s3-errors.ts";
import { objectMetadata } from "./s3-metadata.ts";
import { uploadMultipart } from "./s3-multipart.ts";
import { parseS3Options, type S3Options } from "./s3-options.ts";
import { PartBuffers, partSizeFor } from "./s3-part-buffers.ts";
import { keyOfLocation, readObject } from "./s3-read.ts";
import { abortedError, blobError, guardedReader } from "./s3-upload-failures.ts";
import { putPooled, putVerified } from "./s3-whole-put.ts";

export interface S3DestinationInit {
  /** Full destination name, e.g. `s3:main`. */
  name: string;
  /** The destination's `options` from the config; validated here. */
  options: unknown;
  /**
   * Default: the AWS SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE,
   * web identity, instance role). Tests and the local stack pass a fixed pair.
   */
  credentials?: S3ClientConfig["credentials"];
  /** Where AWS_REGION is read; default process.env. */
  env?: Record<string, string | undefined>;
  log?: Logger;
}

export class S3Destination implements Destination {
  readonly name: string;
  readonly options: S3Options;
  /** The SDK client; exposed so callers can add middleware (metrics, request capture in tests). */
  readonly client: S3Client;
  private readonly log: Logger;
  private readonly partBuffers: PartBuffers;
  private warnedNoPrefix = false;

  /** Throws S3OptionsError naming the first bad option. */
  constructor(init: S3DestinationInit) {
    this.name = init.name;
    this.options = parseS3Options(init.name, init.options, init.env);
    this.log = init.log ?? createLogger(init.name);
    const o = this.options;
    // Shared by the uploads of this destination: by default what one upload can use and two more
    // (or one whole PUT's worth, if more), so one large upload runs at full speed and more share,
    // and RSS stays flat with the concurrency (bench/RESULTS.md has the peaks).
    this.partBuffers = new PartBuffers(o.partSizeBytes, o.partBuffers);
    const sdkLog = this.log.child({ component: "aws-sdk" });
    this.client = new S3Client({
      region: o.region,
      ...(o.endpoint ? { endpoint: o.endpoint } : {}),
      forcePathStyle: o.forcePathStyle,
      ...(init.credentials ? { credentials: init.credentials } : {}),
      maxAttempts: o.maxAttempts,
      // Checksums are chosen per request below (SHA-256, already known). The SDK's default
      // would add CRC32 to every request and stream bodies as aws-chunked, which some
      // S3-compatible servers (s3rver) store verbatim, framing and all.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      requestHandler: { connectionTimeout: o.connectTimeoutMs, socketTimeout: o.requestTimeoutMs },
      // Without a logger the SDK warns on the console; its chatter is debug detail for us.
      logger: {
        trace: () => {},
        debug: () => {},
        info: () => {},
        warn: (...args: unknown[]) => sdkLog.debug({ sdk: args.map(String) }, "aws-sdk warning"),
        error: (...args: unknown[]) => sdkLog.debug({ sdk: args.map(String) }, "aws-sdk error"),
      },
    });
  }

  /**
   * The object key of an event. Throws PermanentError if the name cannot make a valid key: one
   * past S3's 1,024 bytes is refused here, before any request, naming the lengths.
   */
  keyOf(event: Pick<ArtifactEventV1, "project" | "run" | "name" | "level" | "producer">): string {
    let key: string;
    try {
      key = renderRemotePath(this.options.keyTemplate, this.options.prefix, event, {
        allowDotSegments: this.options.allowDotSegments,
      });
    } catch (err) {
      throw new PermanentError(
        `${this.name}: no valid key for ${JSON.stringify(event.name)}: ${(err as Error).message}`,
      );
    }
    const o = this.options;
    const problem = s3KeyProblem(key, {
      name: event.name,
      template: o.keyTemplate,
      base: { label: "prefix", value: normalizePrefix(o.prefix) },
    });
    if (problem) throw new PermanentError(`${this.name}: ${problem}`);
    return key;
  }

  /** Versions are ordered per object key: what a `{rank}` or `{level}` template makes distinct stays distinct. */
  orderKey(event: ArtifactEventV1): string {
    return this.keyOf(event);
  }

  /** `s3://bucket/key`, as receipts report it. */
  locationOf(key: string): string {
    return `s3://${this.options.bucket}/${key}`;
  }

  async upload(artifact: Artifact, ctx: UploadContext): Promise<UploadReceipt> {
    const { event } = artifact;
    const key = this.keyOf(event);
    const location = this.locationOf(key);
    // One signal for every step of this upload: the caller's, or the blob stream failing
    // (a failed body is never noticed by the SDK, which would wait for bytes that never come).
    const ac = new AbortController();
    const onAbort = () => ac.abort(ctx.signal.reason);
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    let reader: BlobReader | undefined;
    let bodyError: unknown;
    const onBodyError = (err: unknown) => {
      bodyError ??= err;
      ac.abort(err);
    };
    try {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const { metadata, dropped } = objectMetadata(event);
      if (dropped.length) ctx.log.warn({ key, dropped }, "event metadata past S3's 2 KB limit left out");
      const params = {
        Bucket: this.options.bucket,
        Key: key,
        ContentLength: event.blob.size,
        ContentType: event.contentType,
        Metadata: metadata,
      };
      let result: { etag: string | undefined; versionId: string | undefined };
      // Every path reads and verifies the bytes before the request that makes them visible, which
      // goes only while this upload's lease on the key holds (ctx.beforeVisible).
      const { size, sha256 } = event.blob;
      if (size < this.options.partSizeBytes) {
        // Below one part: read whole into a buffer of its own (s3-whole-put.ts).
        const bytes = await artifact.read(ac.signal).catch((err: unknown) => {
          onBodyError(err);
          throw err;
        });
        await ctx.beforeVisible();
        result = await putVerified(this.client, params, bytes, sha256, ac.signal);
      } else {
        reader = await artifact.openReader(ac.signal).catch((err: unknown) => {
          bodyError = err;
          throw err;
        });
        const common = {
          client: this.client,
          params,
          reader: guardedReader(reader, onBodyError),
          size,
          signal: ac.signal,
          onProgress: (bytes: number) => ctx.heartbeat(bytes),
        };
        result =
          size <= this.options.uploadCutoffBytes
            ? await putPooled({ ...common, sha256, buffers: this.partBuffers, beforePut: () => ctx.beforeVisible() })
            : await uploadMultipart({
                ...common,
                buffers: this.partBuffersFor(size),
                queueSize: this.options.queueSize,
                beforeComplete: () => ctx.beforeVisible(),
                ...(ctx.resume ? { resume: ctx.resume } : {}),
                log: ctx.log,
              });
      }
      const details: Record<string, string> = { etag: (result.etag ?? "").replaceAll('"', "") };
      if (result.versionId) details.versionId = result.versionId;
      return { location, size: event.blob.size, details };
    } catch (err) {
      throw this.failure(err, bodyError, ctx.signal, `upload to ${location}`);
    } finally {
      ctx.signal.removeEventListener("abort", onAbort);
      await reader?.close().catch(() => {});
    }
  }

  /** The shared part buffers, or one-off larger ones for a blob past MAX_PARTS configured parts. */
  private partBuffersFor(size: number): PartBuffers {
    const partSize = partSizeFor(size, this.options.partSizeBytes);
    return partSize === this.partBuffers.partSize
      ? this.partBuffers
      : new PartBuffers(partSize, this.options.queueSize + 1);
  }

  /** HeadBucket within probeTimeoutMs: reachable, credentials valid, bucket there. */
  async probe(signal: AbortSignal): Promise<void> {
    const timeout = AbortSignal.timeout(this.options.probeTimeoutMs);
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.options.bucket }), {
        abortSignal: AbortSignal.any([signal, timeout]),
      });
    } catch (err) {
      const what = `probe of s3://${this.options.bucket}`;
      if (signal.aborted) throw abortedError(what, signal);
      if (timeout.aborted) throw new TransientError(`${what}: no answer within ${this.options.probeTimeoutMs} ms`);
      throw s3Error(err, what);
    }
  }

  /**
   * Aborts multipart uploads under the prefix older than `olderThanMs` (default a day), left by
   * uploaders that died mid-upload. Returns how many; 0 where the server cannot list them.
   * Without a prefix nothing is aborted: in a shared bucket this destination's uploads cannot be
   * told from anyone else's (a bucket lifecycle rule, AbortIncompleteMultipartUpload, covers it).
   */
  cleanup(olderThanMs: number, signal: AbortSignal): Promise<number> {
    return this.cleanupAbandoned(olderThanMs, signal);
  }

  /** {@link cleanup} with a default age of a day. */
  async cleanupAbandoned(olderThanMs = 24 * 3600_000, signal?: AbortSignal): Promise<number> {
    const { bucket } = this.options;
    const prefix = normalizePrefix(this.options.prefix);
    if (prefix === "") {
      if (!this.warnedNoPrefix) {
        this.warnedNoPrefix = true;
        this.log.info(
          { bucket },
          "no prefix: abandoned multipart uploads are left to the bucket's lifecycle rule (AbortIncompleteMultipartUpload)",
        );
      }
      return 0;
    }
    return abortAbandonedUploads(this.client, bucket, prefix, olderThanMs, this.log, signal);
  }

  /** Streams the object at `location` (this bucket and prefix only) through this client. */
  async openRead(location: string, range: ByteRange | undefined, signal: AbortSignal): Promise<RemoteContent> {
    const key = keyOfLocation(location, this.options.bucket, this.options.prefix);
    return readObject(this.client, this.options.bucket, key, range, signal);
  }

  /** Deletes the objects (this bucket and prefix only) in order; S3 treats an absent key as deleted. */
  async remove(locations: readonly string[], signal: AbortSignal): Promise<void> {
    const { bucket, prefix } = this.options;
    for (const key of locations.map((l) => keyOfLocation(l, bucket, prefix))) {
      await this.client
        .send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal })
        .catch((err: unknown) => Promise.reject(s3Error(err, `delete of ${this.locationOf(key)}`)));
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private failure(err: unknown, bodyError: unknown, outer: AbortSignal, what: string): Error {
    if (outer.aborted) return abortedError(what, outer);
    if (bodyError !== undefined) return blobError(bodyError, what);
    return s3Error(err, what);
  }
}
