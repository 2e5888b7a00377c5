/**
 * Order per key at one destination: versions of one order key (what the destination writes,
 * e.g. the rendered path) are uploaded one at a time across replicas, never older after newer.
 * Two modes: with coalescing, a version with a newer one already waiting in the stream is
 * skipped; without (every event a version, as W&B users want), a version waits until every older
 * version of its key at this destination is finished, so versions appear in logging order.
 */
import type { Consumer, JetStreamManager } from "@nats-io/jetstream";
import type { DestinationConfig } from "../config/config.ts";
import { admitEvent } from "../contract/admission.ts";
import type { ArtifactEventV1 } from "../contract/schema.ts";
import { artifactKey, EVENTS_PREFIX } from "../contract/subjects.ts";
import { scanMessages } from "../nats/message-scan.ts";
import { EVENTS_STREAM, LEASE_KEY_PREFIX } from "../nats/topology-names.ts";
import type { AcquireResult, KeyLease, KeyLeases, LandedSet } from "./key-lease.ts";

/** The ledger key of an order key's lease (hashed: order keys are paths of any length). */
export function leaseKey(destinationToken: string, orderKey: string): string {
  return `${LEASE_KEY_PREFIX}.${destinationToken}.${artifactKey(orderKey)}`;
}

/** One version asking for its turn. */
export interface Turn {
  event: ArtifactEventV1;
  /** The adapter's order key of the event. */
  orderKey: string;
  /** The sequence that orders it: its own, or for a replay the original event's. */
  orderSeq: number;
  /** The events subject of its key, where newer versions would be. */
  eventsSubject: string;
  /** Unique per delivery attempt. */
  holder: string;
  /** Skip the coalescing look-up for a first version (small artifacts: it costs more than it saves). */
  cheapFirstVersion: boolean;
  /** The checkpoint set the event is a member of, if any: the key remembers it once it lands. */
  set?: string;
}

export type TurnResult =
  /** `landedSet`: the set the newest version that landed under the key belongs to, if any. */
  | { kind: "acquired"; lease: KeyLease; landedSet?: LandedSet }
  | { kind: "done" }
  | { kind: "superseded"; by: number }
  /** Still busy after waiting as long as allowed: come back later. */
  | { kind: "later" };

export interface KeyOrderOptions {
  leases: KeyLeases;
  jsm: JetStreamManager;
  destinationToken: string;
  /** The adapter's order key of an event. */
  orderKeyOf(event: ArtifactEventV1): string;
  /** How long one delivery may wait for a busy key before it steps back (its slot is wanted). */
  maxWaitMs: number;
  /** Skip versions that a newer one of their key already waits behind (default true). */
  coalesce: boolean;
  /**
   * Without coalescing: the subject filter of every event this destination takes that may share
   * an order key with `event` (its project and name key, the destination's run and level filter).
   */
  scopeOf(event: ArtifactEventV1): string;
  /** Without coalescing: whether an event is finished at this destination (its ledger entry). */
  finished(ref: { project: string; run: string; eventId: string; seq: number }): Promise<boolean>;
  /** Without coalescing: the consumer's ack floor, below which every event is finished here. */
  ackFloor(): Promise<number>;
}

export class KeyOrder {
  private readonly options: KeyOrderOptions;
  constructor(options: KeyOrderOptions) {
    this.options = options;
  }

  /**
   * Waits for the turn of `t` (up to maxWaitMs), calling `keepAlive` while it waits so the
   * delivery does not expire. Waiting is never an attempt.
   */
  async take(t: Turn, signal: AbortSignal, keepAlive: () => void): Promise<TurnResult> {
    const { orderKey } = t;
    const key = leaseKey(this.options.destinationToken, orderKey);
    const deadline = Date.now() + this.options.maxWaitMs;
    const claim = {
      seq: t.orderSeq,
      holder: t.holder,
      project: t.event.project,
      run: t.event.run,
      eventId: t.event.id,
      ...(t.set === undefined ? {} : { set: t.set }),
    };
    for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
      // In order: an older version still to finish goes first. Checked before the lease, whose
      // fence would otherwise make the older one superseded.
      const older = !this.options.coalesce && (await this.olderUnfinished(t, orderKey));
      const r: AcquireResult | { kind: "busy" } = older
        ? { kind: "busy" }
        : await this.options.leases.acquire(key, claim);
      if (r.kind === "acquired") {
        if (!this.options.coalesce || (r.firstVersion && t.cheapFirstVersion)) return r;
        const newer = await this.newerVersion(t, orderKey);
        if (newer === undefined) return r;
        await r.lease.release();
        return { kind: "superseded", by: newer };
      }
      if (r.kind !== "busy") return r;
      // A newer version waiting too makes this one's wait pointless.
      const newer = this.options.coalesce ? await this.newerVersion(t, orderKey) : undefined;
      if (newer !== undefined) return { kind: "superseded", by: newer };
      if (signal.aborted || Date.now() + wait > deadline) return { kind: "later" };
      keepAlive();
      await new Promise((res) => setTimeout(res, wait));
    }
  }

  /**
   * Whether a valid event of the same order key, older than `t`, is not finished here yet. Scans
   * the key's events from the consumer's ack floor (everything below it is finished here, or
   * came before the destination existed) up to `t`'s sequence; usually one look-up that finds
   * `t` itself.
   */
  private async olderUnfinished(t: Turn, orderKey: string): Promise<boolean> {
    const scope = this.options.scopeOf(t.event);
    const range = { fromSeq: (await this.options.ackFloor()) + 1, beforeSeq: t.orderSeq };
    for await (const m of scanMessages(this.options.jsm, EVENTS_STREAM, scope, range)) {
      const admitted = admitEvent(m.subject, m.data, m.seq);
      if (!admitted.ok || !this.sameKey(admitted.event, orderKey)) continue;
      const { project, run, id: eventId } = admitted.event;
      if (!(await this.options.finished({ project, run, eventId, seq: m.seq }))) return true;
    }
    return false;
  }

  private sameKey(event: ArtifactEventV1, orderKey: string): boolean {
    try {
      return this.options.orderKeyOf(event) === orderKey;
    } catch {
      return false; // no valid key: it dies without ever writing
    }
  }

  /**
   * The sequence of a newer valid version of the same order key waiting in the stream, if the
   * newest event on the key's subject is one. Only the newest is looked at: enough to coalesce
   * a burst of versions, and a miss only costs an extra upload.
   */
  private async newerVersion(t: Turn, orderKey: string): Promise<number | undefined> {
    let last: Awaited<ReturnType<JetStreamManager["streams"]["getMessage"]>>;
    try {
      last = await this.options.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: t.eventsSubject });
    } catch {
      return undefined;
    }
    if (!last || last.seq <= t.orderSeq) return undefined;
    // A newer message counts only if its body is valid for its subject and writes the same key:
    // a forged or broken event must not hide a real version, nor a template with {rank} mix ranks.
    const admitted = admitEvent(last.subject, last.data);
    return admitted.ok && this.sameKey(admitted.event, orderKey) ? last.seq : undefined;
  }
}

/** Every event of a destination's filter that shares `e`'s project and name key: where older versions are. */
export function keyScope(e: ArtifactEventV1, filter: DestinationConfig["filter"]): string {
  return `${EVENTS_PREFIX}.${e.project}.${filter.run}.${filter.level}.${artifactKey(e.name)}`;
}

/**
 * A consumer's ack floor, read at most every 5 s: it only grows, so an older value is safe (the
 * scan for older versions starts lower). Each read is a consumer info, for which the server
 * counts the consumer's pending messages over the whole stream, a cost that grows with it.
 */
export function ackFloorReader(consumer: Consumer): () => Promise<number> {
  let cached: { at: number; floor: number } | undefined;
  return async () => {
    if (!cached || Date.now() - cached.at > 5_000) {
      cached = { at: Date.now(), floor: (await consumer.info()).ack_floor.stream_seq };
    }
    return cached.floor;
  };
}
