/**
 * Last-write-wins per (destination, order key) across replicas. One KV record per key, changed
 * only by compare-and-set, holds:
 * - `fenceSeq`: the highest stream sequence ever granted the key. A version older than it is
 *   never written again: a newer one may have landed, even if recording that failed.
 * - `doneSeq`: the highest sequence known uploaded, so a redelivery of it is not uploaded twice.
 * - the lease: who uploads now, and which event.
 * Key: `<LEASE_KEY_PREFIX>.<destinationToken>.<hash of the order key>` (nats/topology-names.ts).
 *
 * Expiry uses no clock shared between hosts: a reader takes over a lease only after it has seen
 * the same record revision (no renewal) for a whole lease period on its own monotonic clock, and
 * a holder stops writing once a lease period has passed since it sent its last renewal that
 * succeeded. Clock skew between hosts cannot hand out two leases.
 *
 * A finished upload does not write this record: its ledger entry says `uploaded`, and whoever
 * next finds the lease reads that entry and folds the holder's sequence into `doneSeq` (see
 * `settled`). That saves a JetStream write per artifact, where most keys have one version.
 */
import type { KV } from "@nats-io/kv";
import { isTerminal, type LedgerRef, type LedgerState } from "../contract/ledger-entry.ts";
import { isRevisionConflict } from "../ledger/ledger.ts";
import { checkRecordFormat, LEDGER_FORMAT } from "../nats/ledger-format.ts";

interface Holder extends LedgerRef {
  /** Unique per delivery attempt: `<replicaId>/<seq>`. */
  id: string;
  seq: number;
  /** The checkpoint set the holder's event is a member of, if any. */
  set?: string;
}

/** The checkpoint set a version that landed under a key belongs to (the set's project and run are its own). */
export interface LandedSet {
  project: string;
  run: string;
  set: string;
}

interface LeaseRecord {
  fenceSeq: number;
  doneSeq: number;
  holder?: Holder;
  /**
   * The set the newest version that landed under the key is a member of: kept through later
   * grants until another version lands, so that a version outside that set can be refused
   * before it replaces a member a manifest vouches for (SetCompletion.outsider).
   */
  landedSet?: LandedSet;
  /** The ledger format it was written in (nats/ledger-format.ts); absent in format 1. */
  format?: number;
}

/** The ledger state at this destination of the event at stream sequence `ref.seq`. */
export type OutcomeOf = (ref: LedgerRef & { seq: number }) => Promise<LedgerState | undefined>;

/** What asks for a key: the version (its order sequence) and who will upload it. */
export interface LeaseClaim extends LedgerRef {
  seq: number;
  holder: string;
  /** The checkpoint set the claiming event is a member of, if any. */
  set?: string;
}

export type AcquireResult =
  /**
   * `firstVersion`: the key had no record, so no other version of it was ever granted here.
   * `landedSet`: the set the newest version that landed under the key belongs to, if any.
   */
  | { kind: "acquired"; lease: KeyLease; firstVersion: boolean; landedSet?: LandedSet }
  /** This very version was uploaded already (e.g. a crash between upload and ack). */
  | { kind: "done" }
  /** A newer version holds or held the key: this one must never be written. */
  | { kind: "superseded"; by: number }
  | { kind: "busy"; holder: string };

/** Raised when a lease was taken over, or may have been: the upload must stop. */
export class LeaseLostError extends Error {
  override name = "LeaseLostError";
}

const now = () => performance.now();

export class KeyLeases {
  private readonly kv: KV;
  readonly leaseMs: number;
  private readonly outcomeOf: OutcomeOf;
  /** Per key: the revision of a live lease this reader saw first, and when (monotonic ms). */
  private readonly sightings = new Map<string, { revision: number; since: number }>();

  constructor(kv: KV, leaseMs: number, outcomeOf: OutcomeOf) {
    this.kv = kv;
    this.leaseMs = leaseMs;
    this.outcomeOf = outcomeOf;
  }

  /** Tries once to take the lease of `key` for `claim`; `claim.holder` must be unique. */
  async acquire(key: string, claim: LeaseClaim): Promise<AcquireResult> {
    const holder: Holder = {
      id: claim.holder,
      seq: claim.seq,
      project: claim.project,
      run: claim.run,
      eventId: claim.eventId,
      ...(claim.set === undefined ? {} : { set: claim.set }),
    };
    // Most keys are new (one name, one version): try to create the record outright.
    const initial: LeaseRecord = { fenceSeq: claim.seq, doneSeq: 0, holder };
    const sentAt = now();
    const created = await this.createIfAbsent(key, initial);
    if (created !== undefined) {
      return { kind: "acquired", firstVersion: true, lease: new KeyLease(this, key, created, initial, sentAt) };
    }
    for (;;) {
      const cur = await this.kv.get(key);
      const live = cur?.operation === "PUT" ? cur : undefined;
      const rec = await this.settled(live ? leaseOf(live.json<LeaseRecord>(), key) : { fenceSeq: 0, doneSeq: 0 });
      const busy = live && rec.holder && rec.holder.id !== claim.holder && !this.expired(key, live.revision);
      if (!busy) this.sightings.delete(key);
      const verdict: AcquireResult | undefined =
        rec.doneSeq === claim.seq
          ? { kind: "done" }
          : rec.fenceSeq > claim.seq
            ? { kind: "superseded", by: rec.fenceSeq }
            : busy
              ? { kind: "busy", holder: rec.holder?.id ?? "" }
              : undefined;
      if (verdict) {
        if (verdict.kind !== "busy") this.sightings.delete(key);
        return verdict;
      }
      const next: LeaseRecord = {
        fenceSeq: Math.max(rec.fenceSeq, claim.seq),
        doneSeq: rec.doneSeq,
        holder,
        ...kept(rec),
      };
      const attemptAt = now();
      const rev = live ? await this.cas(key, next, live.revision) : await this.createIfAbsent(key, next);
      if (rev !== undefined) {
        const lease = new KeyLease(this, key, rev, next, attemptAt);
        return { kind: "acquired", firstVersion: false, lease, ...kept(rec) };
      }
    }
  }

  /**
   * True once this reader has seen `revision` unchanged for a whole lease period. The first
   * sighting of a revision starts the count, so a lease is never judged by the holder's clock.
   */
  private expired(key: string, revision: number): boolean {
    const seen = this.sightings.get(key);
    if (!seen || seen.revision !== revision) {
      this.sightings.set(key, { revision, since: now() });
      return false;
    }
    return now() - seen.since >= this.leaseMs;
  }

  /**
   * The record as it stands once its holder's outcome is known: a holder whose event is terminal
   * in the ledger holds nothing any more, and the sequence it uploaded counts as done.
   */
  private async settled(rec: LeaseRecord): Promise<LeaseRecord> {
    if (!rec.holder) return rec;
    const state = await this.outcomeOf(rec.holder);
    if (!isTerminal(state)) return rec;
    if (state !== "uploaded") return { fenceSeq: rec.fenceSeq, doneSeq: rec.doneSeq, ...kept(rec) };
    // The holder's version landed: its set (or none) is now the key's.
    const { project, run, set } = rec.holder;
    return {
      fenceSeq: rec.fenceSeq,
      doneSeq: Math.max(rec.doneSeq, rec.holder.seq),
      ...(set === undefined ? {} : { landedSet: { project, run, set } }),
    };
  }

  private async createIfAbsent(key: string, rec: LeaseRecord): Promise<number | undefined> {
    try {
      return await this.kv.create(key, encode(rec));
    } catch (err) {
      if (isRevisionConflict(err)) return undefined;
      throw err;
    }
  }

  /** @internal compare-and-set; undefined when the revision moved. */
  async cas(key: string, rec: LeaseRecord, revision: number): Promise<number | undefined> {
    try {
      return await this.kv.update(key, encode(rec), revision);
    } catch (err) {
      if (isRevisionConflict(err)) return undefined;
      throw err;
    }
  }

  /** @internal current record and revision. */
  async read(key: string): Promise<{ rec: LeaseRecord; revision: number } | undefined> {
    const e = await this.kv.get(key);
    return e && e.operation === "PUT" ? { rec: leaseOf(e.json<LeaseRecord>(), key), revision: e.revision } : undefined;
  }
}

/** A lease record as stored: numbered with the format it is written in (nats/ledger-format.ts). */
function encode(rec: LeaseRecord): string {
  return JSON.stringify({ ...rec, format: LEDGER_FORMAT });
}

/** The record's landed set, to carry into the next record written under the key. */
function kept(rec: LeaseRecord): Pick<LeaseRecord, "landedSet"> {
  return rec.landedSet ? { landedSet: rec.landedSet } : {};
}

/** A stored lease record, refused when written in a format this release does not read. */
function leaseOf(rec: LeaseRecord, key: string): LeaseRecord {
  checkRecordFormat(rec, `key lease ${key}`);
  return rec;
}

/**
 * A held lease: renew it while uploading; release it when the upload fails. A successful upload
 * completes it by its ledger entry (see the module comment). Releasing keeps the fence: the
 * version may have landed whatever the upload reported.
 */
export class KeyLease {
  private revision: number;
  private readonly rec: LeaseRecord;
  private readonly leases: KeyLeases;
  readonly key: string;
  /** Monotonic time (performance.now()) until which no other reader can take the lease over. */
  private validUntil: number;
  /**
   * The record's revision when this lease was granted: a later grant of the key (to any holder)
   * has a higher one. Fences writes made under the lease (resume records).
   */
  readonly epoch: number;

  constructor(leases: KeyLeases, key: string, revision: number, rec: LeaseRecord, sentAt: number) {
    this.leases = leases;
    this.key = key;
    this.revision = revision;
    this.epoch = revision;
    this.rec = rec;
    this.validUntil = sentAt + leases.leaseMs;
  }

  /** Who holds it: unique per delivery attempt. */
  get holder(): string {
    return this.rec.holder?.id ?? "";
  }

  /** The lease period: how long a renewal keeps the key, from when it was sent. */
  get periodMs(): number {
    return this.leases.leaseMs;
  }

  /** Milliseconds this holder may still write without a successful renewal. */
  get remainingMs(): number {
    return this.validUntil - now();
  }

  /**
   * Extends the lease. Throws LeaseLostError if another holder took it over; other errors (NATS
   * away) leave the lease as valid as it was, for the caller to retry.
   */
  async renew(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      const sentAt = now();
      const rev = await this.leases.cas(this.key, this.rec, this.revision);
      if (rev !== undefined) {
        this.revision = rev;
        this.validUntil = sentAt + this.leases.leaseMs;
        return;
      }
      // A renewal that timed out may have been applied after all (sent once NATS was back): the
      // record still naming this holder means nobody took over, only its revision moved.
      const fresh = await this.leases.read(this.key);
      if (!fresh || fresh.rec.holder?.id !== this.rec.holder?.id) break;
      this.revision = fresh.revision;
    }
    throw new LeaseLostError(`lease on ${this.key} was taken over`);
  }

  /** Frees the key without recording an upload; a lease taken over meanwhile is left alone. */
  async release(): Promise<void> {
    let revision = this.revision;
    let rec = this.rec;
    for (let i = 0; i < 10; i++) {
      if (rec.holder?.id !== this.rec.holder?.id) return;
      if (await this.leases.cas(this.key, { fenceSeq: rec.fenceSeq, doneSeq: rec.doneSeq, ...kept(rec) }, revision))
        return;
      const fresh = await this.leases.read(this.key);
      if (!fresh) return;
      ({ rec, revision } = fresh);
    }
    throw new Error(`cannot release ${this.key}: too much contention`);
  }
}
