/**
 * What a TypeScript trainer uses. `logFile` stages the file, publishes the event and resolves
 * on the PubAck: from then on the artifact is durable and the caller may delete or rewrite its
 * file. It never waits for a destination; `flush` does, like Composer's close.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { type JetStreamClient, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Histogram, Registry } from "prom-client";
import type { BlobStore, StagingMode } from "./blob/store.ts";
import { checkArtifactName, checkLevel, checkSubjectToken } from "./event/names.ts";
import type { ArtifactEventV1, BlobRef, Level } from "./event/schema.ts";
import { eventSubject } from "./event/subjects.ts";
import { encodeEvent, validateEvent } from "./event/validate.ts";
import { DestinationDirectory } from "./nats/destinations.ts";
import { LEDGER_BUCKET } from "./nats/topology-names.ts";
import { publishHistogram } from "./publisher-metrics.ts";
import { destinationFromToken, parseDestinationName } from "./runtime/destination-name.ts";
import { Ledger } from "./runtime/ledger.ts";
import { type EntryListener, waitForTerminal } from "./runtime/ledger-waiter.ts";

export { type AwaitedEntry, type EntryListener, FlushTimeoutError } from "./runtime/ledger-waiter.ts";

/** No destination takes the artifact's subject: it would never be uploaded, so it is refused. */
export class NoDestinationError extends Error {
  override name = "NoDestinationError";
}

/** The server refused the event (permissions): it did not land, and its staged blob is removed. */
export class PublishRefusedError extends Error {
  override name = "PublishRefusedError";
}

/**
 * No PubAck came in time: the event may still have landed (the request may have reached the
 * server). Its staged blob is kept for it; `eventId` lets the caller look for it in the ledger,
 * or publish the same id again (deduplicated within the stream's window).
 */
export class PublishUnconfirmedError extends Error {
  override name = "PublishUnconfirmedError";
  readonly eventId: string;
  readonly blob: BlobRef;
  constructor(event: ArtifactEventV1, message: string, cause: unknown) {
    super(`${message}; it may still land (event ${event.id}), so its staged blob is kept`, { cause });
    this.eventId = event.id;
    this.blob = event.blob;
  }
}

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
}

export interface LoggedArtifact {
  id: string;
  project: string;
  run: string;
  name: string;
  subject: string;
  streamSeq: number;
  blob: BlobRef;
  /** Destinations that will take it, e.g. `s3:main`. */
  destinations: string[];
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

export class ArtifactPublisher {
  private readonly js: JetStreamClient;
  private readonly opts: PublisherOptions;
  private readonly directory: DestinationDirectory;
  private readonly ledger: Ledger;
  private readonly outstanding = new Map<string, LoggedArtifact>();
  private readonly publishSeconds: Histogram | undefined;

  private constructor(opts: PublisherOptions, directory: DestinationDirectory, ledger: Ledger) {
    this.opts = opts;
    this.js = jetstream(opts.nc);
    this.directory = directory;
    this.ledger = ledger;
    this.publishSeconds = opts.registry && publishHistogram(opts.registry);
  }

  static async create(opts: PublisherOptions): Promise<ArtifactPublisher> {
    await jetstreamManager(opts.nc); // fails fast, naming the problem, when the server has no JetStream
    const kv = await new Kvm(opts.nc).open(LEDGER_BUCKET);
    // Hundreds of trainers each list the destinations: in full once a minute, by name in between.
    const directory = new DestinationDirectory(opts.nc, { fullListMs: 60_000 });
    return new ArtifactPublisher(opts, directory, new Ledger(kv));
  }

  /** Stages `path` and publishes its event; resolves once the event is durable in the stream. */
  async logFile(req: LogFileRequest): Promise<LoggedArtifact> {
    const target = await this.target(req);
    const id = randomUUID();
    const blob = await this.opts.blobStore.stage({
      path: req.path,
      project: target.project,
      run: target.run,
      id,
      mode: req.mode,
      ...(req.onStagingProgress ? { onProgress: req.onStagingProgress } : {}),
    });
    const logged = await this.publishStaged(target, { id, blob, metadata: req.metadata, contentType: req.contentType });
    this.outstanding.set(id, logged);
    return logged;
  }

  /**
   * Checks an artifact's names and says which destinations would take it; throws
   * InvalidArtifactError naming the field, or NoDestinationError. Cheap (the destination list
   * is cached): callers that stage bytes themselves ask first, before any byte is staged.
   */
  async target(req: Pick<LogFileRequest, "project" | "run" | "name" | "level">): Promise<ArtifactTarget> {
    const project = checkSubjectToken("project", req.project);
    const run = checkSubjectToken("run", req.run);
    const name = checkArtifactName(req.name);
    const level = checkLevel(req.level ?? "fit");
    const subject = eventSubject({ project, run, level, name });
    // An event no consumer takes would never be uploaded: refuse it instead of losing it.
    const destinations = await this.directory.matching(subject);
    if (destinations.length === 0) {
      throw new NoDestinationError(
        `no destination takes ${project}/${run} at level ${level}; configure one and apply the topology`,
      );
    }
    return { project, run, name, level, subject, destinations: destinations.map(destinationFromToken) };
  }

  /**
   * Publishes the event of a blob already staged under `id` (the HTTP gateway streams bodies
   * into the store itself). A refused publish removes the blob; an unconfirmed one keeps it. The
   * artifact is not tracked for {@link flush}. With an id published before (within the stream's
   * duplicate window) nothing new is published and `duplicate` is true: `streamSeq` is then
   * the original event's.
   */
  async publishStaged(target: ArtifactTarget, req: StagedBlob): Promise<LoggedArtifact & { duplicate: boolean }> {
    const { project, run, name, level, subject, destinations } = target;
    const event: ArtifactEventV1 = validateEvent({
      schema: 1,
      id: req.id,
      project,
      run,
      name,
      level,
      blob: req.blob,
      contentType: req.contentType ?? guessContentType(name),
      metadata: req.metadata ?? {},
      producer: {
        host: hostname(),
        pid: process.pid,
        ...(this.opts.rank === undefined ? {} : { rank: this.opts.rank }),
      },
      createdAt: new Date().toISOString(),
    });
    let ack: { seq: number; duplicate: boolean };
    try {
      ack = await this.publish(subject, event);
    } catch (err) {
      // Only a refused publish surely did not land. One that timed out may have: its event
      // would then need the blob, so it stays (the uploaders' sweeper removes an orphan).
      if (err instanceof PublishRefusedError) await this.opts.blobStore.remove(req.blob).catch(() => undefined);
      throw err;
    }
    return {
      id: req.id,
      project,
      run,
      name,
      subject,
      streamSeq: ack.seq,
      blob: req.blob,
      destinations,
      duplicate: ack.duplicate,
    };
  }

  /** Publishes with the event id as Nats-Msg-Id, retrying across reconnects: dedupe makes a retry safe. */
  private async publish(subject: string, event: ArtifactEventV1): Promise<{ seq: number; duplicate: boolean }> {
    const started = performance.now();
    const deadline = Date.now() + (this.opts.publishTimeoutMs ?? 30_000);
    const data = encodeEvent(event);
    for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
      try {
        const timeout = Math.max(100, Math.min(5000, deadline - Date.now()));
        const ack = await this.js.publish(subject, data, { msgID: event.id, timeout });
        this.publishSeconds?.observe((performance.now() - started) / 1000);
        return { seq: ack.seq, duplicate: ack.duplicate };
      } catch (err) {
        const message = (err as Error).message;
        // A refused publish will be refused again: only a lost connection is worth waiting out.
        if (/permissions? violation|authorization/i.test(message)) {
          throw new PublishRefusedError(`publish of ${event.name} refused: ${message}`, { cause: err });
        }
        if (Date.now() + wait > deadline) {
          throw new PublishUnconfirmedError(event, `publish of ${event.name} not acknowledged: ${message}`, err);
        }
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /**
   * Resolves when every artifact logged through this publisher is terminal (uploaded,
   * superseded or dead) at every destination that took it; rejects with FlushTimeoutError.
   * `onEntry` is told each ledger entry seen meanwhile (states, upload progress).
   */
  async flush({ timeoutMs = 60_000, onEntry }: { timeoutMs?: number; onEntry?: EntryListener } = {}): Promise<void> {
    const logged = [...this.outstanding.values()];
    const entries = logged.flatMap((a) =>
      a.destinations.map((d) => ({
        destinationToken: parseDestinationName(d).token,
        project: a.project,
        run: a.run,
        eventId: a.id,
        name: a.name,
      })),
    );
    await waitForTerminal(this.ledger, entries, timeoutMs, { onEntry, connection: this.opts.nc });
    for (const a of logged) this.outstanding.delete(a.id);
  }
}

const CONTENT_TYPES: Record<string, string> = {
  json: "application/json",
  txt: "text/plain",
  log: "text/plain",
  csv: "text/csv",
  yaml: "application/yaml",
  yml: "application/yaml",
  gz: "application/gzip",
};

function guessContentType(name: string): string {
  const ext = name.slice(name.lastIndexOf(".") + 1).toLowerCase();
  return CONTENT_TYPES[ext] ?? "application/octet-stream";
}
