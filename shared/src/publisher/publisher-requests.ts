/** What a publisher is asked: its options, a file to log, a set to close, a blob staged by its caller. */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Registry } from "prom-client";
import type { BlobStore, StagingMode } from "../blob/store.ts";
import type { BlobRef, Level, SetRef } from "../contract/schema.ts";

export interface LogFileRequest {
  project: string;
  run: string;
  /** Relative POSIX path naming the artifact, e.g. `checkpoints/ep1.pt`. */
  name: string;
  /** The local file to log. */
  path: string;
  level?: Level;
  metadata?: Record<string, string>;
  contentType?: string;
  /** fs staging only; defaults to the publisher's mode. */
  mode?: StagingMode;
  /** Told the bytes staged so far while a large file is staged (see StageRequest.onProgress). */
  onStagingProgress?: (bytesDone: number) => void;
  /**
   * The checkpoint set this file is a member of: `name` must lie under `set.name`. At each
   * destination the set's manifest and pointer appear once every member landed there; say
   * `members` when the count is known up front, or close the set with {@link ArtifactPublisher.closeSet}.
   */
  set?: Pick<SetRef, "name" | "members" | "step">;
}

/** Closes a checkpoint set: how many members it has (see {@link ArtifactPublisher.closeSet}). */
export interface CloseSetRequest {
  project: string;
  run: string;
  /** The set's name, e.g. `checkpoints/ep3-ba3000`. */
  set: string;
  /** How many members the set has, across every rank. */
  members: number;
  /** The level its members were logged at (default `fit`): the close goes to the same destinations. */
  level?: Level;
  step?: number;
}

/** An artifact's checked names, its subject, and the destinations that take it. */
export interface ArtifactTarget {
  project: string;
  run: string;
  name: string;
  level: Level;
  subject: string;
  /** e.g. `s3:main` */
  destinations: string[];
}

/** A blob staged under an event id, with what its event says besides the target. */
export interface StagedBlob {
  /** The event id the blob was staged under. */
  id: string;
  blob: BlobRef;
  metadata?: Record<string, string>;
  /** Default: guessed from the name's extension. */
  contentType?: string;
  /** The checkpoint set it belongs to, if any. */
  set?: SetRef;
  /** The global rank of the trainer that logged it (the gateway's callers): else the publisher's own. */
  rank?: number;
}

export interface PublisherOptions {
  nc: NatsConnection;
  blobStore: BlobStore;
  /** Upper bound on waiting for a PubAck across NATS reconnects (default 30 s). */
  publishTimeoutMs?: number;
  rank?: number;
  /**
   * A Prometheus registry to export the publisher's metrics in (`artifact_bus_publish_seconds`),
   * e.g. the one a trainer's own /metrics serves. None: nothing is measured.
   */
  registry?: Registry;
}
