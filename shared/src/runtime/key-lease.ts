/**
 * Last-write-wins per (destination, artifact key) across replicas. One KV record per key holds
 * the newest stream sequence uploaded (`doneSeq`) and a lease naming the event its holder
 * uploads, both changed only by compare-and-set, so uploads of one key are serialized and an
 * older event is never written after a newer one succeeded.
 * Key: `head.<destinationToken>.<project>.<run>.<artifactKey>`.
 *
 * A finished upload does not write this record: its ledger entry says `uploaded`, and whoever
 * next finds the lease reads that entry and folds the holder's sequence into `doneSeq` (see
 * `settled`). That saves a JetStream write per artifact, where most keys have one version, at
 * the price of a ledger read for the next version of a key.
 */
import type { KV } from "@nats-io/kv";
import { isTerminal, type LedgerState } from "./ledger.ts";

interface HeadRecord {
  doneSeq: number;
  doneEventId?: string;
  holder?: string;
  /** Stream sequence and event id the holder uploads. */
  holderSeq?: number;
  holderEventId?: string;
  leaseUntil?: number;
}

/** The ledger state of an event at this destination. */
export type OutcomeOf = (eventId: string) => Promise<LedgerState | undefined>;

export type AcquireResult =
  /** `firstVersion`: the key had no record, so no other version of it was ever uploaded here. */
  | { kind: "acquired"; lease: KeyLease; firstVersion: boolean }
  /** This very event was uploaded already (e.g. crash between ledger write and ack). */
  | { kind: "done" }
  | { kind: "superseded"; by: number }
  | { kind: "busy"; holder: string };

export function headKey(destinationToken: string, project: string, run: string, artifactKey: string): string {
  return `head.${destinationToken}.${project}.${run}.${artifactKey}`;
}

const enc = (r: HeadRecord) => JSON.stringify(r);

/** Raised when a lease was taken over after it expired: the upload must stop. */
export class LeaseLostError extends Error {
  override name = "LeaseLostError";
}

export class KeyLeases {
  private readonly kv: KV;
  private readonly leaseMs: number;
  private readonly outcomeOf: OutcomeOf;
  constructor(kv: KV, leaseMs: number, outcomeOf: OutcomeOf) {
    this.kv = kv;
    this.leaseMs = leaseMs;
    this.outcomeOf = outcomeOf;
  }

  /**
   * Tries once to take the lease of `key` for event `eventId` at stream sequence `seq`; `holder`
   * must be unique. The upload is complete once the event's ledger entry says `uploaded`.
   */
  async acquire(key: string, seq: number, holder: string, eventId: string): Promise<AcquireResult> {
    const lease = { holder, holderSeq: seq, holderEventId: eventId, leaseUntil: Date.now() + this.leaseMs };
    // Most keys are new (one name, one version): try to create the record outright.
    const initial: HeadRecord = { doneSeq: 0, ...lease };
    const created = await this.createIfAbsent(key, initial);
    if (created) {
      return { kind: "acquired", firstVersion: true, lease: new KeyLease(this, key, seq, holder, created, initial) };
    }
    for (;;) {
      const cur = await this.kv.get(key);
      const now = Date.now();
      const rec = await this.settled(cur?.operation === "PUT" ? cur.json<HeadRecord>() : { doneSeq: 0 });
      if (rec.doneSeq === seq) return { kind: "done" };
      if (rec.doneSeq > seq) return { kind: "superseded", by: rec.doneSeq };
      if (rec.holder && rec.holder !== holder && (rec.leaseUntil ?? 0) > now)
        return { kind: "busy", holder: rec.holder };
      const next: HeadRecord = {
        doneSeq: rec.doneSeq,
        doneEventId: rec.doneEventId,
        ...lease,
        leaseUntil: now + this.leaseMs,
      };
      const rev = cur ? await this.cas(key, next, cur.revision) : await this.createIfAbsent(key, next);
      if (rev) return { kind: "acquired", firstVersion: false, lease: new KeyLease(this, key, seq, holder, rev, next) };
    }
  }

  /**
   * The record as it stands once its holder's outcome is known: a holder whose event is terminal
   * in the ledger holds nothing any more, and the sequence it uploaded counts as done.
   */
  private async settled(rec: HeadRecord): Promise<HeadRecord> {
    if (!rec.holder || rec.holderEventId === undefined || rec.holderSeq === undefined) return rec;
    const state = await this.outcomeOf(rec.holderEventId);
    if (!isTerminal(state)) return rec;
    return state === "uploaded" && rec.holderSeq > rec.doneSeq
      ? { doneSeq: rec.holderSeq, doneEventId: rec.holderEventId }
      : { doneSeq: rec.doneSeq, doneEventId: rec.doneEventId };
  }

  private async createIfAbsent(key: string, rec: HeadRecord): Promise<number | undefined> {
    try {
      return await this.kv.create(key, enc(rec));
    } catch (err) {
      if (isRevisionConflict(err)) return undefined;
      throw err;
    }
  }

  /** @internal compare-and-set; undefined when the revision moved. */
  async cas(key: string, rec: HeadRecord, revision: number): Promise<number | undefined> {
    try {
      return await this.kv.update(key, enc(rec), revision);
    } catch (err) {
      if (isRevisionConflict(err)) return undefined;
      throw err;
    }
  }

  /** @internal current record and revision. */
  async read(key: string): Promise<{ rec: HeadRecord; revision: number } | undefined> {
    const e = await this.kv.get(key);
    return e && e.operation === "PUT" ? { rec: e.json<HeadRecord>(), revision: e.revision } : undefined;
  }

  get ttlMs(): number {
    return this.leaseMs;
  }
}

/**
 * A held lease: renew it while uploading; release it when the upload fails. A successful upload
 * completes it by its ledger entry (see the module comment).
 */
export class KeyLease {
  private revision: number;
  private rec: HeadRecord;
  private readonly leases: KeyLeases;
  readonly key: string;
  readonly seq: number;
  readonly holder: string;

  constructor(leases: KeyLeases, key: string, seq: number, holder: string, revision: number, rec: HeadRecord) {
    this.leases = leases;
    this.key = key;
    this.seq = seq;
    this.holder = holder;
    this.revision = revision;
    this.rec = rec;
  }

  /** Extends the lease; throws LeaseLostError if another holder took it over. */
  async renew(): Promise<void> {
    const next = { ...this.rec, leaseUntil: Date.now() + this.leases.ttlMs };
    const rev = await this.leases.cas(this.key, next, this.revision);
    if (!rev) throw new LeaseLostError(`lease on ${this.key} was taken over`);
    this.revision = rev;
    this.rec = next;
  }

  /** Frees the key without recording an upload; a lease taken over meanwhile is left alone. */
  async release(): Promise<void> {
    let rec = this.rec;
    let revision = this.revision;
    for (let i = 0; i < 10; i++) {
      if (rec.holder !== this.holder) return;
      if (await this.leases.cas(this.key, { doneSeq: rec.doneSeq, doneEventId: rec.doneEventId }, revision)) return;
      const fresh = await this.leases.read(this.key);
      if (!fresh) return;
      ({ rec, revision } = fresh);
    }
    throw new Error(`cannot release ${this.key}: too much contention`);
  }
}

/** The KV answer to a compare-and-set whose expected revision moved (or a create of an existing key). */
function isRevisionConflict(err: unknown): boolean {
  return err instanceof Error && /wrong last sequence|revision|key exists/i.test(err.message);
}
