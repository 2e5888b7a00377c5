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
import type { BlobStore, StagingMode } from "./blob/store.ts";
import { checkArtifactName, checkLevel, checkSubjectToken } from "./event/names.ts";
import type { ArtifactEventV1, BlobRef, Level } from "./event/schema.ts";
import { eventSubject } from "./event/subjects.ts";
import { encodeEvent, validateEvent } from "./event/validate.ts";
import { DestinationDirectory } from "./nats/destinations.ts";
import { LEDGER_BUCKET } from "./nats/topology-names.ts";
import { destinationFromToken, parseDestinationName } from "./runtime/destination-name.ts";
import { Ledger } from "./runtime/ledger.ts";
import { waitForTerminal } from "./runtime/ledger-waiter.ts";

export { FlushTimeoutError } from "./runtime/ledger-waiter.ts";

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
}

export class ArtifactPublisher {
  private readonly js: JetStreamClient;
  private readonly opts: PublisherOptions;
  private readonly directory: DestinationDirectory;
  private readonly ledger: Ledger;
  private readonly outstanding = new Map<string, LoggedArtifact>();

  private constructor(opts: PublisherOptions, directory: DestinationDirectory, ledger: Ledger) {
    this.opts = opts;
    this.js = jetstream(opts.nc);
    this.directory = directory;
    this.ledger = ledger;
  }

  static async create(opts: PublisherOptions): Promise<ArtifactPublisher> {
    await jetstreamManager(opts.nc); // fails fast, naming the problem, when the server has no JetStream
    const kv = await new Kvm(opts.nc).open(LEDGER_BUCKET);
    return new ArtifactPublisher(opts, new DestinationDirectory(opts.nc), new Ledger(kv));
  }

  /** Stages `path` and publishes its event; resolves once the event is durable in the stream. */
  async logFile(req: LogFileRequest): Promise<LoggedArtifact> {
    const project = checkSubjectToken("project", req.project);
    const run = checkSubjectToken("run", req.run);
    const name = checkArtifactName(req.name);
    const level = checkLevel(req.level ?? "fit");
    const subject = eventSubject({ project, run, level, name });
    // Interest retention drops an event no consumer wants: refuse instead of losing it.
    const destinations = await this.retrying(() => this.directory.matching(subject));
    if (destinations.length === 0) {
      throw new Error(`no destination takes ${project}/${run} at level ${level}; configure one and apply the topology`);
    }
    const id = randomUUID();
    const blob = await this.opts.blobStore.stage({ path: req.path, project, run, id, mode: req.mode });
    const event: ArtifactEventV1 = validateEvent({
      schema: 1,
      id,
      project,
      run,
      name,
      level,
      blob,
      contentType: req.contentType ?? guessContentType(name),
      metadata: req.metadata ?? {},
      producer: {
        host: hostname(),
        pid: process.pid,
        ...(this.opts.rank === undefined ? {} : { rank: this.opts.rank }),
      },
      createdAt: new Date().toISOString(),
    });
    let streamSeq: number;
    try {
      streamSeq = await this.publish(subject, event);
    } catch (err) {
      // Only a refused publish surely did not land. One that timed out may have: its event
      // would then need the blob, so it stays (the uploaders' sweeper removes an orphan).
      if (err instanceof PublishRefusedError) await this.opts.blobStore.remove(blob).catch(() => undefined);
      throw err;
    }
    const logged = {
      id,
      project,
      run,
      name,
      subject,
      streamSeq,
      blob,
      destinations: destinations.map(destinationFromToken),
    };
    this.outstanding.set(id, logged);
    return logged;
  }

  /** `fn` retried across a NATS reconnect, within publishTimeoutMs. */
  private async retrying<T>(fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + (this.opts.publishTimeoutMs ?? 30_000);
    for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
      try {
        return await fn();
      } catch (err) {
        if (/permissions? violation|authorization/i.test((err as Error).message) || Date.now() + wait > deadline)
          throw err;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** Publishes with the event id as Nats-Msg-Id, retrying across reconnects: dedupe makes a retry safe. */
  private async publish(subject: string, event: ArtifactEventV1): Promise<number> {
    const deadline = Date.now() + (this.opts.publishTimeoutMs ?? 30_000);
    const data = encodeEvent(event);
    for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
      try {
        const timeout = Math.max(100, Math.min(5000, deadline - Date.now()));
        const ack = await this.js.publish(subject, data, { msgID: event.id, timeout });
        return ack.seq;
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
   */
  async flush({ timeoutMs = 60_000 }: { timeoutMs?: number } = {}): Promise<void> {
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
    await waitForTerminal(this.ledger, entries, timeoutMs);
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
