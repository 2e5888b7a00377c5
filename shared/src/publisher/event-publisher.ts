/**
 * An artifact's event, from a staged blob to its PubAck, as ArtifactPublisher sends it: built
 * and checked against the schema, checked again against the destinations as they stand when it
 * is published, then published with retries across reconnects. A publish that surely did not
 * land removes its blob.
 */
import { hostname } from "node:os";
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import type { Histogram } from "prom-client";
import { destinationFromToken } from "../contract/destination-name.ts";
import { checkNameRules } from "../contract/name-rules.ts";
import type { ArtifactEventV1 } from "../contract/schema.ts";
import { encodeEvent, validateEvent } from "../contract/validate.ts";
import type { DestinationDirectory } from "../nats/destinations.ts";
import { guessContentType } from "./content-type.ts";
import type { LoggedArtifact } from "./logged-artifact.ts";
import { NoDestinationError, PublishRefusedError, PublishUnconfirmedError } from "./publish-errors.ts";
import { publishHistogram } from "./publisher-metrics.ts";
import type { ArtifactTarget, PublisherOptions, StagedBlob } from "./publisher-requests.ts";

/** Read once: os.hostname() is a system call, and it was one per event. */
const HOST = hostname();

/** Builds and publishes the events of one {@link ArtifactPublisher}, with its options and destination list. */
export class EventPublisher {
  private readonly js: JetStreamClient;
  private readonly opts: PublisherOptions;
  private readonly directory: DestinationDirectory;
  private readonly publishSeconds: Histogram | undefined;

  constructor(opts: PublisherOptions, directory: DestinationDirectory) {
    this.opts = opts;
    this.js = jetstream(opts.nc);
    this.directory = directory;
    this.publishSeconds = opts.registry && publishHistogram(opts.registry);
  }

  /** The event of a staged blob, checked against the schema (metadata and content type limits). */
  eventFor(target: ArtifactTarget, req: StagedBlob): ArtifactEventV1 {
    const { project, run, name, level } = target;
    return validateEvent({
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
        host: HOST,
        pid: process.pid,
        ...((req.rank ?? this.opts.rank) === undefined ? {} : { rank: req.rank ?? this.opts.rank }),
      },
      createdAt: new Date().toISOString(),
      ...(req.set ? { set: req.set } : {}),
    });
  }

  /**
   * Publishes `event` of a blob staged for `target`, once the destinations as they now stand
   * still take it. Removes the blob when no destination takes it any more, one refuses its name,
   * or the server refuses the publish; keeps it when the publish is unconfirmed.
   */
  async publishEvent(target: ArtifactTarget, event: ArtifactEventV1): Promise<LoggedArtifact & { duplicate: boolean }> {
    const { project, run, name, subject } = target;
    // The target may come from an old list (answerStaleForMs): the list as the check behind
    // that call found it decides, so that nothing is published where no destination takes it.
    const settled = await this.directory.settledMatching(subject);
    if (settled.length === 0) {
      await this.opts.blobStore.remove(event.blob).catch(() => undefined);
      throw new NoDestinationError(
        `no destination takes ${project}/${run} at level ${event.level} any more; configure one and apply the topology`,
      );
    }
    const destinations = settled.map((d) => ({ destination: destinationFromToken(d.token), rules: d.rules }));
    try {
      checkNameRules(event, destinations);
    } catch (err) {
      await this.opts.blobStore.remove(event.blob).catch(() => undefined);
      throw err;
    }
    let ack: { seq: number; duplicate: boolean };
    try {
      ack = await this.publish(subject, event);
    } catch (err) {
      // Only a refused publish surely did not land. One that timed out may have: its event
      // would then need the blob, so it stays (the uploaders' sweeper removes an orphan).
      if (err instanceof PublishRefusedError) await this.opts.blobStore.remove(event.blob).catch(() => undefined);
      throw err;
    }
    return {
      id: event.id,
      project,
      run,
      name,
      subject,
      streamSeq: ack.seq,
      blob: event.blob,
      destinations: destinations.map((d) => d.destination),
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
}
