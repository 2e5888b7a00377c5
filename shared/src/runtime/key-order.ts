/**
 * Order per key at one destination: versions of one order key (what the destination writes,
 * e.g. the rendered path) are uploaded one at a time across replicas, never older after newer,
 * and a version with a newer one already waiting in the stream is skipped (coalescing).
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { ArtifactEventV1 } from "../event/schema.ts";
import { artifactKey } from "../event/subjects.ts";
import { EVENTS_STREAM } from "../nats/topology-names.ts";
import { admitEvent } from "./admission.ts";
import type { AcquireResult, KeyLease, KeyLeases } from "./key-lease.ts";

/** The KV key of an order key's head record (hashed: order keys are paths of any length). */
export function headKey(destinationToken: string, orderKey: string): string {
  return `head.${destinationToken}.${artifactKey(orderKey)}`;
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
}

export type TurnResult =
  | { kind: "acquired"; lease: KeyLease }
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
}

export class KeyOrder {
  private readonly o: KeyOrderOptions;
  constructor(options: KeyOrderOptions) {
    this.o = options;
  }

  /**
   * Waits for the turn of `t` (up to maxWaitMs), calling `keepAlive` while it waits so the
   * delivery does not expire. Waiting is never an attempt.
   */
  async take(t: Turn, signal: AbortSignal, keepAlive: () => void): Promise<TurnResult> {
    const { orderKey } = t;
    const key = headKey(this.o.destinationToken, orderKey);
    const deadline = Date.now() + this.o.maxWaitMs;
    const claim = {
      seq: t.orderSeq,
      holder: t.holder,
      project: t.event.project,
      run: t.event.run,
      eventId: t.event.id,
    };
    for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
      const r: AcquireResult = await this.o.leases.acquire(key, claim);
      if (r.kind === "acquired") {
        if (r.firstVersion && t.cheapFirstVersion) return r;
        const newer = await this.newerVersion(t, orderKey);
        if (newer === undefined) return r;
        await r.lease.release();
        return { kind: "superseded", by: newer };
      }
      if (r.kind !== "busy") return r;
      // A newer version waiting too makes this one's wait pointless.
      const newer = await this.newerVersion(t, orderKey);
      if (newer !== undefined) return { kind: "superseded", by: newer };
      if (signal.aborted || Date.now() + wait > deadline) return { kind: "later" };
      keepAlive();
      await new Promise((res) => setTimeout(res, wait));
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
      last = await this.o.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: t.eventsSubject });
    } catch {
      return undefined;
    }
    if (!last || last.seq <= t.orderSeq) return undefined;
    // A newer message counts only if its body is valid for its subject and writes the same key:
    // a forged or broken event must not hide a real version, nor a template with {rank} mix ranks.
    const admitted = admitEvent(last.subject, last.data);
    if (!admitted.ok) return undefined;
    try {
      return this.o.orderKeyOf(admitted.event) === orderKey ? last.seq : undefined;
    } catch {
      return undefined;
    }
  }
}
