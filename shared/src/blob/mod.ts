/** Blob stores: the fs staging dir and the JetStream object store, behind one interface. */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { BlobRef } from "../contract/schema.ts";
import type { Logger } from "../log.ts";
import { FsBlobStore } from "./fs-store.ts";
import { NatsBlobStore } from "./nats-store.ts";
import type { BlobStore, StagingMode } from "./store.ts";

export { type BlobKey, blobKey, parseBlobKey } from "../contract/blob-key.ts";
export { type BlobReader, fileReader, readWhole, streamReader } from "./blob-reader.ts";
export { SMALL_FILE_BYTES } from "./bounded-read.ts";
export { FsBlobStore, type FsBlobStoreOptions, TEMP_PREFIX } from "./fs-store.ts";
export { STREAM_TEMP_SUFFIX } from "./fs-stream.ts";
export { type Digest, hashFile, StreamingHash } from "./hash.ts";
export { HashPool, hashPool } from "./hash-pool.ts";
export { BlobIntegrityError, NatsBlobStore, type NatsBlobStoreOptions } from "./nats-store.ts";
export {
  BlobBucketMissingError,
  StagingError,
  StagingRefusedError,
  StagingUnavailableError,
} from "./staging-errors.ts";
export {
  BlobDigestMismatchError,
  BlobExistsError,
  type BlobLocation,
  BlobMissingError,
  BlobSourceChangedError,
  type BlobStore,
  type CheckedFile,
  type PlacedBlob,
  type StagedHow,
  type StageRequest,
  type StageStreamRequest,
  type StagingMode,
  type SweepGuard,
} from "./store.ts";

export type BlobStoreKind = BlobRef["store"];

/** Raised when an event points at a kind of store this process was not configured with. */
export class BlobStoreNotConfiguredError extends Error {
  override name = "BlobStoreNotConfiguredError";
}

const HOW_TO_CONFIGURE: Record<BlobStoreKind, string> = {
  fs: "set staging.dir (ARTIFACT_BUS_STAGING_DIR) to the shared staging directory",
  nats: "give the process a NATS connection so it can reach the blob buckets",
};

/** The blob stores one process can reach, looked up by the `store` field of a BlobRef. */
export class BlobStores {
  private readonly stores: Partial<Record<BlobStoreKind, BlobStore>>;

  private readonly unavailable: Partial<Record<BlobStoreKind, string>>;

  /** `unavailable` says why a kind that was asked for could not be opened. */
  constructor(stores: BlobStore[], unavailable: Partial<Record<BlobStoreKind, string>> = {}) {
    this.stores = {};
    this.unavailable = unavailable;
    for (const store of stores) {
      if (this.stores[store.kind]) throw new Error(`two blob stores of kind ${store.kind}`);
      this.stores[store.kind] = store;
    }
  }

  /** The store of `kind`; throws BlobStoreNotConfiguredError, saying what to configure, if absent. */
  get(kind: BlobStoreKind): BlobStore {
    const store = this.stores[kind];
    if (!store) {
      const have = this.kinds.join(", ") || "none";
      throw new BlobStoreNotConfiguredError(
        `blob store "${kind}" is not configured here (configured: ${have}); ${
          this.unavailable[kind] ?? HOW_TO_CONFIGURE[kind] ?? "unknown kind"
        }`,
      );
    }
    return store;
  }

  has(kind: BlobStoreKind): boolean {
    return this.stores[kind] !== undefined;
  }

  get kinds(): BlobStoreKind[] {
    return Object.keys(this.stores) as BlobStoreKind[];
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.stores).map((s) => s.close()));
  }
}

/** The staging part of the config (Config["staging"]) that openBlobStores reads. */
export interface StagingSettings {
  /** Shared staging directory; configures the fs store. */
  dir?: string | undefined;
  /** Default mode of the fs store. */
  mode?: StagingMode | undefined;
  /** The store this process stages into; that one must open, the other may be missing. */
  store?: BlobStoreKind | undefined;
}

export interface OpenBlobStoresOptions {
  /** How long the nats store waits out a bucket without a leader while staging; see NatsBlobStoreOptions. */
  stageTimeoutMs?: number | undefined;
  logger?: Logger | undefined;
}

/**
 * Opens the stores this process can reach: fs if `staging.dir` is set, nats if a connection is
 * given. The store named by `staging.store` must open. The nats store's buckets are per project
 * and looked up when used: a project without one surfaces when it stages (BlobBucketMissingError)
 * or when an event points into it (the blob is missing).
 */
export async function openBlobStores(
  staging: StagingSettings,
  nats?: NatsConnection | JetStreamClient,
  options: OpenBlobStoresOptions = {},
): Promise<BlobStores> {
  const stores: BlobStore[] = [];
  const unavailable: Partial<Record<BlobStoreKind, string>> = {};
  if (staging.dir) {
    stores.push(new FsBlobStore(staging.dir, { defaultMode: staging.mode, logger: options.logger }));
  }
  if (nats) {
    try {
      const timeout = options.stageTimeoutMs;
      stores.push(await NatsBlobStore.open(nats, timeout === undefined ? {} : { stageTimeoutMs: timeout }));
    } catch (err) {
      if (staging.store === "nats") throw err;
      unavailable.nats = (err as Error).message;
    }
  }
  return new BlobStores(stores, unavailable);
}
