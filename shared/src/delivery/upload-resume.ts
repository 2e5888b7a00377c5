/**
 * The resume record of one upload attempt: what the adapter saves (ctx.resume) to let the next
 * attempt of the same event at this destination, on any replica, continue where this one
 * stopped. One KV record per (destination, order key), `resume.<dest>.<hash of the order key>`,
 * next to the key's lease: one version of a key uploads at a time, so one record serves it, and
 * a newer version's first save replaces an older one's.
 *
 * Fencing: every write is a compare-and-set, made only while the lease is sure to hold for the
 * heartbeat's margin, and carries the lease's epoch (the lease record's revision when it was
 * granted; a later grant has a higher one). A write that meets a record of a higher epoch stops
 * the upload (LeaseLostError): a newer attempt owns the key, and its state is never overwritten.
 *
 * Cost: nothing for uploads that never save (small ones); otherwise one write in flight at a
 * time and at most one per WRITE_EVERY_MS, the latest state winning, so parts completing faster
 * are coalesced into one write; and one delete once the upload landed.
 */
import type { KV } from "@nats-io/kv";
import type { Logger } from "pino";
import type { ResumeState, UploadResume } from "../destination/destination.ts";
import { describeError } from "../destination/errors.ts";
import { isRevisionConflict } from "../ledger/ledger.ts";
import { LEASE_KEY_PREFIX, RESUME_KEY_PREFIX } from "../nats/topology-names.ts";
import { type KeyLease, LeaseLostError } from "./key-lease.ts";

/** A resume state reaches the ledger at most this often per upload. */
export const RESUME_WRITE_EVERY_MS = 250;
/** States larger than this are not saved (NATS's default max payload is 1 MiB). */
const MAX_RECORD_BYTES = 768 * 1024;

/** The stored record, documented in docs/contract.md. */
export interface ResumeRecord {
  /** The event whose upload it resumes, and its order sequence at this destination. */
  eventId: string;
  seq: number;
  /** The lease grant it was written under; a record of a higher epoch is never overwritten. */
  epoch: number;
  /** The attempt that wrote it (`<replica>/<stream seq>/<delivery>`). */
  holder: string;
  savedAt: string;
  state: ResumeState;
}

/** `resume.<dest>.<hash>` beside the lease key `head.<dest>.<hash>`. */
export function resumeKeyOf(leaseKey: string): string {
  return `${RESUME_KEY_PREFIX}.${leaseKey.slice(LEASE_KEY_PREFIX.length + 1)}`;
}

export interface ResumeOwner {
  eventId: string;
  /** The event's order sequence (its stream sequence, or the replayed original's). */
  seq: number;
  lease: KeyLease;
  /** How long before its lease could expire a holder stops writing (the heartbeat's margin). */
  marginMs: number;
  /** Stops the upload: a newer attempt owns the key. */
  fenced(err: LeaseLostError): void;
  log: Logger;
}

export class AttemptResume implements UploadResume {
  private readonly kv: KV;
  private readonly owner: ResumeOwner;
  readonly key: string;
  /** Revision of the record as this attempt last read or wrote it; undefined: none seen yet. */
  private revision: number | undefined;
  private known = false;
  /** Whether this attempt wrote the record (or found this event's): it deletes it once landed. */
  private owns = false;
  private wanted: ResumeState | undefined;
  private waiters: (() => void)[] = [];
  private running: Promise<void> | undefined;
  private lastWrite = 0;
  private warnedSize = false;
  /** The state of an older version of the key, as load() found it. */
  private older: ResumeState | undefined;

  constructor(kv: KV, owner: ResumeOwner) {
    this.kv = kv;
    this.owner = owner;
    this.key = resumeKeyOf(owner.lease.key);
  }

  async load(): Promise<ResumeState | undefined> {
    const rec = await this.read();
    this.older = rec && rec.seq < this.owner.seq ? rec.state : undefined;
    if (!rec || rec.eventId !== this.owner.eventId || rec.seq !== this.owner.seq) return undefined;
    this.owns = true;
    return rec.state;
  }

  abandoned(): ResumeState | undefined {
    return this.older;
  }

  save(state: ResumeState): Promise<void> {
    this.wanted = state;
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    // `running` is cleared by drain itself, synchronously as it leaves its loop: a save made
    // while a write is in flight is taken by that loop, one made after starts a new one.
    this.running ??= this.drain();
    return done;
  }

  /** Removes the record once the upload landed: no attempt will resume it. Best effort. */
  async discard(): Promise<void> {
    await this.running;
    if (!this.owns || this.revision === undefined) return;
    try {
      await this.kv.delete(this.key, { previousSeq: this.revision });
    } catch {
      // A newer attempt's record, or NATS away: the record expires with the ledger's TTL, and the
      // next version of the key replaces it.
    }
  }

  /** Writes the latest wanted state until none is left, one write at a time, spaced out. */
  private async drain(): Promise<void> {
    await Promise.resolve(); // `running` is set before the loop can end
    while (this.wanted) {
      const wait = this.lastWrite + RESUME_WRITE_EVERY_MS - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const state = this.wanted;
      const waiters = this.waiters;
      this.wanted = undefined;
      this.waiters = [];
      this.lastWrite = Date.now();
      try {
        await this.write(state);
      } catch (err) {
        // Advisory: the next save tries again; a crash meanwhile resumes from an older state.
        this.owner.log.debug({ err: describeError(err), key: this.key }, "resume state not saved");
      }
      for (const w of waiters) w();
    }
    this.running = undefined;
  }

  private async write(state: ResumeState): Promise<void> {
    const { lease } = this.owner;
    const rec: ResumeRecord = {
      eventId: this.owner.eventId,
      seq: this.owner.seq,
      epoch: lease.epoch,
      holder: lease.holder,
      savedAt: new Date().toISOString(),
      state,
    };
    const body = JSON.stringify(rec);
    if (body.length > MAX_RECORD_BYTES) {
      if (!this.warnedSize) this.owner.log.warn({ bytes: body.length }, "resume state too large to save; not saved");
      this.warnedSize = true;
      return;
    }
    if (!this.known) await this.read();
    for (let i = 0; i < 5; i++) {
      // Only while the key is surely this attempt's: past that, another replica may own it.
      if (lease.remainingMs < this.owner.marginMs) return;
      try {
        this.revision =
          this.revision === undefined
            ? await this.kv.create(this.key, body)
            : await this.kv.update(this.key, body, this.revision);
        this.owns = true;
        return;
      } catch (err) {
        if (!isRevisionConflict(err)) throw err;
      }
      await this.read();
    }
  }

  /** Reads the record; one of a later lease grant stops this upload. */
  private async read(): Promise<ResumeRecord | undefined> {
    const e = await this.kv.get(this.key);
    this.known = true;
    this.revision = e?.revision;
    if (e?.operation !== "PUT") return undefined;
    const rec = e.json<ResumeRecord>();
    if (rec.epoch > this.owner.lease.epoch) {
      const err = new LeaseLostError(`resume record ${this.key} was written by a newer attempt (${rec.holder})`);
      this.owner.fenced(err);
      throw err;
    }
    return rec;
  }
}
