/**
 * Blob store on JetStream object store buckets, for trainers that share no filesystem with the
 * uploaders. A blob is the object `<project>/<run>/<event id>` in its project's bucket
 * `artifact_blobs_<project>` (see blobBucket): NATS permissions then keep a project's trainers
 * to its own bucket, while uploaders and the gateway read and remove blobs of every project.
 */
import type { FileHandle } from "node:fs/promises";
import { open as openFile } from "node:fs/promises";
import { addAbortSignal, Readable } from "node:stream";
import { JetStreamApiError, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Base64UrlPaddedCodec } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { blobKey, parseBlobKey } from "../contract/blob-key.ts";
import { InvalidArtifactError } from "../contract/names.ts";
import type { BlobRef } from "../contract/schema.ts";
import { jetStreamManagerWhenAvailable } from "../nats/availability.ts";
import { BLOB_BUCKET_PREFIX, blobBucket, blobStream } from "../nats/topology-names.ts";
import { type BlobReader, readWhole, streamReader } from "./blob-reader.ts";
import { readBufferBytes, StreamingHash } from "./hash.ts";
import { type Bucket, chunkSubject, listMetas, metaSubject, readChunks, readMeta } from "./object-reader.ts";
import { rollupHeaders, writeObject } from "./object-writer.ts";
import { STREAM_NOT_FOUND } from "./staging-errors.ts";
import {
  BlobDigestMismatchError,
  type BlobLocation,
  BlobMissingError,
  type BlobStore,
  type PlacedBlob,
  type StageRequest,
  type StageStreamRequest,
  type SweepGuard,
} from "./store.ts";

export interface NatsBlobStoreOptions {
  /**
   * Bytes per stored chunk (one JetStream message each, published and acked in turn); default
   * 512 KiB, clamped to the server's max_payload. Fewer chunks, fewer round trips.
   */
  chunkBytes?: number;
  /**
   * How long one staging step (a chunk, the metadata) waits out a bucket without a leader (an
   * election, a frozen node) before staging fails with StagingUnavailableError; default 30 s,
   * the publisher's own publish timeout.
   */
  stageTimeoutMs?: number;
  /** Clock for sweep, in ms since the epoch; default Date.now. */
  now?: () => number;
}

/** Raised when a blob's bytes arrived at the server differently from how they left the file. */
export class BlobIntegrityError extends Error {
  override name = "BlobIntegrityError";
}

export class NatsBlobStore implements BlobStore {
  readonly kind = "nats" as const;
  private readonly nc: NatsConnection;
  private readonly jsm: JetStreamManager;
  private readonly js: JetStreamClient;
  private readonly chunkBytes: number;
  private readonly stageTimeoutMs: number;
  private readonly now: () => number;

  private constructor(nc: NatsConnection, jsm: JetStreamManager, options: NatsBlobStoreOptions) {
    this.nc = nc;
    this.jsm = jsm;
    const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
    this.js = jsm.jetstream();
    this.chunkBytes = Math.min(options.chunkBytes ?? 512 * 1024, maxPayload);
    this.stageTimeoutMs = options.stageTimeoutMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Opens the store. Buckets are per project and looked up when used: staging for a project
   * without one rejects with BlobBucketMissingError. The connection stays the caller's: close()
   * leaves it open. Pass a JetStreamClient to choose JetStream options such as the request timeout.
   */
  static async open(
    conn: NatsConnection | JetStreamClient,
    options: NatsBlobStoreOptions = {},
  ): Promise<NatsBlobStore> {
    // A trainer started during an election waits for it as long as a staging step would.
    const jsm =
      "jetstreamManager" in conn
        ? await conn.jetstreamManager()
        : await jetStreamManagerWhenAvailable(conn, options.stageTimeoutMs ?? 30_000);
    // The client's JetStreamClient keeps its connection as `nc`; chunks are read with plain requests.
    const nc = "jetstreamManager" in conn ? (conn as { nc?: NatsConnection }).nc : conn;
    if (!nc) throw new Error("NatsBlobStore.open: no NATS connection behind the JetStream client");
    return new NatsBlobStore(nc, jsm, options);
  }

  /** The bucket of a project's blobs. */
  bucketOf(project: string): Bucket {
    return { bucket: blobBucket(project), stream: blobStream(project) };
  }

  /**
   * Streams the file into its project's bucket, hashing the bytes as they are sent. The object
   * becomes visible only when its metadata is written after the last chunk, so no reader sees
   * part of it. `mode` is ignored: the trainer's file is always left as it was.
   */
  async stage(req: StageRequest): Promise<BlobRef> {
    const name = blobKey(req.project, req.run, req.id);
    const file = await openFile(req.path, "r");
    const hash = new StreamingHash(req.onProgress);
    try {
      return await this.putHashed(req.project, name, hashedFile(file, hash, (await file.stat()).size), hash);
    } finally {
      await file.close();
    }
  }

  /**
   * The bytes are immutable only once they are all in the bucket, hashed as they were sent:
   * placing a blob here is staging it, and `blob` is already known.
   */
  async place(req: StageRequest): Promise<PlacedBlob> {
    const blob = await this.stage(req);
    return { location: { store: "nats", ref: blob.ref }, how: "copy", blob: Promise.resolve(blob) };
  }

  /**
   * Streams `source` into the bucket as {@link stage} does a file. A source that fails stops the
   * put before the object's metadata is written, so no object appears, and its chunks already
   * sent are rolled up; the source's error is what rejects.
   */
  async stageStream(source: Readable, req: StageStreamRequest): Promise<BlobRef> {
    const name = blobKey(req.project, req.run, req.id);
    const hash = new StreamingHash();
    async function* hashed() {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        hash.update(chunk);
        yield chunk;
      }
    }
    try {
      return await this.putHashed(req.project, name, hashed(), hash, req.expectedSha256);
    } catch (err) {
      source.destroy();
      throw err;
    }
  }

  /**
   * Puts the bytes hashed by `hash` under `name`; removes them again if the digest the server
   * got differs from what was sent or from `expectedSha256`.
   */
  private async putHashed(
    project: string,
    name: string,
    data: AsyncIterable<Uint8Array>,
    hash: StreamingHash,
    expectedSha256?: string,
  ): Promise<BlobRef> {
    const bucket = this.bucketOf(project);
    const w = { ...bucket, js: this.js, jsm: this.jsm, project, chunkBytes: this.chunkBytes };
    const info = await writeObject({ ...w, stepTimeoutMs: this.stageTimeoutMs }, name, data);
    const { sha256, size } = hash.digest();
    // The writer hashes the chunks it published too; a mismatch means bytes changed in between.
    const expected = `SHA-256=${Base64UrlPaddedCodec.encode(Buffer.from(sha256, "hex"))}`;
    if (info.digest !== expected || info.size !== size) {
      await this.removeName(bucket, name).catch(() => {});
      throw new BlobIntegrityError(
        `blob nats:${name}: stored ${info.size} bytes with digest ${info.digest}, but sent ${size} bytes with ${expected}`,
      );
    }
    if (expectedSha256 !== undefined && sha256 !== expectedSha256) {
      await this.removeName(bucket, name).catch(() => {});
      throw new BlobDigestMismatchError(expectedSha256, sha256);
    }
    return { store: "nats", ref: name, size, sha256 };
  }

  async open(ref: BlobRef): Promise<Readable> {
    const { name, bucket } = this.locate(ref);
    const found = await readMeta(this.jsm, bucket, name).catch(missingBucketAsNull);
    const missing = () =>
      new BlobMissingError(`blob nats:${name} is missing from object store bucket ${bucket.bucket} (removed or swept)`);
    if (found === null || found.meta.deleted) throw missing();
    return Readable.from(readChunks(this.nc, bucket, found.meta, missing), { objectMode: false });
  }

  async read(ref: BlobRef, signal?: AbortSignal): Promise<Buffer> {
    return readWhole(await this.openReader(ref, signal), ref.size + 1);
  }

  async openReader(ref: BlobRef, signal?: AbortSignal): Promise<BlobReader> {
    const source = await this.open(ref);
    return streamReader(signal ? addAbortSignal(signal, source) : source);
  }

  /** Always undefined: the bytes live in JetStream, not in a local file. */
  localPath(ref: BlobLocation): string | undefined {
    this.locate(ref);
    return undefined;
  }

  async remove(ref: BlobLocation): Promise<void> {
    const { name, bucket } = this.locate(ref);
    await this.removeName(bucket, name);
  }

  /**
   * Deletes one object with two rollup publishes (subject layout: ADR-20), the way the object
   * store client's delete() writes its marker, but without its stream purge: the purge API can
   * empty a whole bucket in one call, so no role but the operator's has it. The rollup on the
   * metadata subject leaves one delete marker, and the one on the chunk subject replaces every
   * chunk by one empty message; both expire with the bucket's max age (the topology sets it).
   */
  private async removeName(bucket: Bucket, name: string): Promise<void> {
    const found = await readMeta(this.jsm, bucket, name).catch(missingBucketAsNull);
    if (!found || found.meta.deleted) return;
    const marker = { ...found.meta, deleted: true, size: 0, chunks: 0, digest: "" };
    await this.js.publish(metaSubject(bucket, name), JSON.stringify(marker), { headers: rollupHeaders() });
    await this.js.publish(chunkSubject(bucket, found.meta.nuid), new Uint8Array(0), { headers: rollupHeaders() });
  }

  async exists(ref: BlobLocation): Promise<boolean> {
    const { name, bucket } = this.locate(ref);
    const found = await readMeta(this.jsm, bucket, name).catch(missingBucketAsNull);
    return found !== null && !found.meta.deleted;
  }

  /**
   * Deletes objects whose mtime (set when the put completed) is older than `olderThanMs`, in
   * every project's bucket, unless `keep` holds them.
   */
  async sweep(olderThanMs: number, keep?: SweepGuard): Promise<number> {
    const cutoff = this.now() - olderThanMs;
    let removed = 0;
    for await (const stream of this.jsm.streams.names()) {
      if (!stream.startsWith(`OBJ_${BLOB_BUCKET_PREFIX}`)) continue;
      const bucket = { stream, bucket: stream.slice("OBJ_".length) };
      for await (const meta of listMetas(this.jsm, bucket)) {
        // An unparsable mtime (NaN) compares false, so such an object is kept, never lost.
        if (meta.deleted || !(Date.parse(meta.mtime) < cutoff)) continue;
        if (keep && (await keep({ store: "nats", ref: meta.name }))) continue;
        await this.removeName(bucket, meta.name);
        removed++;
      }
    }
    return removed;
  }

  /** Nothing to release: the connection belongs to the caller. */
  async close(): Promise<void> {}

  /** The object name and bucket a ref names; the bucket is always the ref's own project's. */
  private locate(ref: BlobLocation): { name: string; bucket: Bucket } {
    if (ref.store !== "nats") {
      throw new InvalidArtifactError(
        "blob.store",
        `a ${JSON.stringify(ref.store)} blob cannot be read from the nats store`,
      );
    }
    return { name: ref.ref, bucket: this.bucketOf(parseBlobKey(ref.ref).project) };
  }
}

/** A bucket that does not exist holds no blob. */
function missingBucketAsNull(err: unknown): null {
  if (err instanceof JetStreamApiError && err.code === STREAM_NOT_FOUND) return null;
  throw err;
}

/** The file's bytes, each read hashed as it is handed out, so the digest is of what was sent. */
async function* hashedFile(file: FileHandle, hash: StreamingHash, expectedBytes: number): AsyncGenerator<Uint8Array> {
  const chunkBytes = readBufferBytes(expectedBytes);
  for (;;) {
    // A fresh buffer per read: the writer may hold earlier pieces until its chunk is full.
    const buf = Buffer.allocUnsafe(chunkBytes);
    const { bytesRead } = await file.read(buf, 0, chunkBytes, null);
    if (bytesRead === 0) return;
    const chunk = buf.subarray(0, bytesRead);
    hash.update(chunk);
    yield chunk;
  }
}
