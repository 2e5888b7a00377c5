/**
 * Blob store on a JetStream object store bucket, for trainers that share no filesystem with the
 * uploaders. A blob is the object `<project>/<run>/<event id>` in bucket BLOB_BUCKET.
 */
import { open as openFile } from "node:fs/promises";
import { addAbortSignal, Readable } from "node:stream";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { type JetStreamClient, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { Base64UrlPaddedCodec, type ObjectInfo, type ObjectStore, Objm, setSha256Backend } from "@nats-io/obj";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { InvalidArtifactError } from "../event/names.ts";
import type { BlobRef } from "../event/schema.ts";
import { BLOB_BUCKET } from "../nats/topology-names.ts";
import { blobKey, parseBlobKey } from "./blob-key.ts";
import { type BlobReader, readWhole, streamReader } from "./blob-reader.ts";
import { hashingWebStream, StreamingHash } from "./hash.ts";
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

// The object store client hashes every put and get; its default pure-JS sha256 (browser-safe)
// caps throughput far below the disk's and the network's. node:crypto gives identical digests
// several times faster. The
// setting is process-wide and must precede any object store use, hence at import.
setSha256Backend("native");

export interface NatsBlobStoreOptions {
  /** Object store bucket; default BLOB_BUCKET. It must exist (topology creates it). */
  bucket?: string;
  /**
   * Bytes per stored chunk (one JetStream message each, published and acked in turn); default
   * 512 KiB, clamped by the client to the server's max_payload. Fewer chunks, fewer round trips.
   */
  chunkBytes?: number;
  /** Clock for sweep, in ms since the epoch; default Date.now. */
  now?: () => number;
}

/** Raised when a blob's bytes arrived at the server differently from how they left the file. */
export class BlobIntegrityError extends Error {
  override name = "BlobIntegrityError";
}

export class NatsBlobStore implements BlobStore {
  readonly kind = "nats" as const;
  readonly bucket: string;
  private readonly os: ObjectStore;
  private readonly js: JetStreamClient;
  private readonly chunkBytes: number;
  private readonly now: () => number;

  private constructor(os: ObjectStore, jsm: JetStreamManager, bucket: string, options: NatsBlobStoreOptions) {
    this.os = os;
    this.js = jsm.jetstream();
    this.bucket = bucket;
    this.chunkBytes = options.chunkBytes ?? 512 * 1024;
    this.now = options.now ?? Date.now;
  }

  /**
   * Opens the store on an existing bucket. The connection stays the caller's: close() leaves it
   * open. Pass a JetStreamClient to choose JetStream options such as the request timeout.
   */
  static async open(
    conn: NatsConnection | JetStreamClient,
    options: NatsBlobStoreOptions = {},
  ): Promise<NatsBlobStore> {
    const bucket = options.bucket ?? BLOB_BUCKET;
    let os: ObjectStore;
    try {
      os = await new Objm(conn).open(bucket);
    } catch (err) {
      if ((err as Error).message !== "object store not found") throw err;
      throw new Error(`object store bucket ${bucket} does not exist; create the topology first (ensureTopology)`, {
        cause: err,
      });
    }
    const jsm = "jetstreamManager" in conn ? await conn.jetstreamManager() : await jetstreamManager(conn);
    return new NatsBlobStore(os, jsm, bucket, options);
  }

  /**
   * Streams the file into the bucket, hashing the bytes as they are sent. The object becomes
   * visible only when its metadata is written after the last chunk, so no reader sees part of it.
   * `mode` is ignored: the trainer's file is always left as it was.
   */
  async stage(req: StageRequest): Promise<BlobRef> {
    const name = blobKey(req.project, req.run, req.id);
    const file = await openFile(req.path, "r");
    const hash = new StreamingHash(req.onProgress);
    try {
      return await this.putHashed(name, hashingWebStream(file, hash, (await file.stat()).size), hash);
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
   * put before the object's metadata is written, so no object appears; its chunks already sent
   * stay until the bucket's max age (removing them needs the purge API, which no role has).
   */
  async stageStream(source: Readable, req: StageStreamRequest): Promise<BlobRef> {
    const name = blobKey(req.project, req.run, req.id);
    const hash = new StreamingHash();
    const chunks = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    const web = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          const next = await chunks.next();
          if (next.done) return controller.close();
          hash.update(next.value);
          controller.enqueue(next.value);
        },
        cancel: () => void source.destroy(),
      },
      { highWaterMark: 1 },
    );
    try {
      return await this.putHashed(name, web, hash, req.expectedSha256);
    } catch (err) {
      source.destroy();
      throw err;
    }
  }

  /**
   * Puts the stream hashed by `hash` under `name`. The object becomes visible only when its
   * metadata is written after the last chunk, so no reader sees part of it; it is removed again
   * if the digest differs from what was sent or from `expectedSha256`.
   */
  private async putHashed(
    name: string,
    data: ReadableStream<Uint8Array>,
    hash: StreamingHash,
    expectedSha256?: string,
  ): Promise<BlobRef> {
    const info = await this.os.put({ name, options: { max_chunk_size: this.chunkBytes } }, data);
    const { sha256, size } = hash.digest();
    // The client hashes the chunks it published too; a mismatch means bytes changed in between.
    const expected = `SHA-256=${Base64UrlPaddedCodec.encode(Buffer.from(sha256, "hex"))}`;
    if (info.digest !== expected || info.size !== size) {
      await this.removeName(name).catch(() => {});
      throw new BlobIntegrityError(
        `blob nats:${name}: stored ${info.size} bytes with digest ${info.digest}, but sent ${size} bytes with ${expected}`,
      );
    }
    if (expectedSha256 !== undefined && sha256 !== expectedSha256) {
      await this.removeName(name).catch(() => {});
      throw new BlobDigestMismatchError(expectedSha256, sha256);
    }
    return { store: "nats", ref: name, size, sha256 };
  }

  async open(ref: BlobRef): Promise<Readable> {
    const name = this.nameOf(ref);
    const result = await this.os.get(name);
    if (result === null) {
      throw new BlobMissingError(
        `blob nats:${name} is missing from object store bucket ${this.bucket} (removed or swept)`,
      );
    }
    // A failed read also errors the stream, which is where the reader sees it; unobserved, this
    // promise would become an unhandled rejection.
    result.error.catch(() => {});
    return Readable.fromWeb(result.data as NodeReadableStream<Uint8Array>);
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
    this.nameOf(ref);
    return undefined;
  }

  async remove(ref: BlobLocation): Promise<void> {
    await this.removeName(this.nameOf(ref));
  }

  /**
   * Deletes one object with two rollup publishes (subject layout: ADR-20), the way the client's
   * delete() writes its marker, but without its stream purge: the purge API can empty the whole
   * bucket in one call, so uploaders are not granted it. The rollup on the metadata subject
   * leaves one delete marker, and the one on the chunk subject replaces every chunk by one empty
   * message; both expire with the bucket's max age (the topology sets it).
   */
  private async removeName(name: string): Promise<void> {
    const info = await this.os.info(name);
    if (!info || info.deleted) return;
    const rollup = headers();
    rollup.set("Nats-Rollup", "sub");
    const marker = { ...metaOf(info), deleted: true, size: 0, chunks: 0, digest: "" };
    await this.js.publish(`$O.${this.bucket}.M.${Base64UrlPaddedCodec.encode(name)}`, JSON.stringify(marker), {
      headers: rollup,
    });
    await this.js.publish(`$O.${this.bucket}.C.${info.nuid}`, new Uint8Array(0), { headers: rollup });
  }

  async exists(ref: BlobLocation): Promise<boolean> {
    const info = await this.os.info(this.nameOf(ref));
    return info !== null && !info.deleted;
  }

  /**
   * Deletes objects whose mtime (set when the put completed) is older than `olderThanMs`,
   * unless `keep` holds them.
   */
  async sweep(olderThanMs: number, keep?: SweepGuard): Promise<number> {
    const cutoff = this.now() - olderThanMs;
    let removed = 0;
    for (const info of await this.os.list()) {
      // An unparsable mtime (NaN) compares false, so such an object is kept, never lost.
      if (info.deleted || !(Date.parse(info.mtime) < cutoff)) continue;
      if (keep && (await keep({ store: "nats", ref: info.name }))) continue;
      await this.removeName(info.name);
      removed++;
    }
    return removed;
  }

  /** Nothing to release: the connection belongs to the caller. */
  async close(): Promise<void> {}

  private nameOf(ref: BlobLocation): string {
    if (ref.store !== "nats") {
      throw new InvalidArtifactError(
        "blob.store",
        `a ${JSON.stringify(ref.store)} blob cannot be read from the nats store`,
      );
    }
    parseBlobKey(ref.ref);
    return ref.ref;
  }
}

/** The stored metadata fields of an object, as its meta message holds them. */
function metaOf(info: ObjectInfo) {
  const { name, description, headers: h, options, bucket, nuid, size, chunks, digest, mtime } = info;
  return { name, description, headers: h, options, bucket, nuid, size, chunks, digest, mtime };
}
