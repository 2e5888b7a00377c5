/**
 * The ledger: the KV bucket holding one entry per (destination, event) (see
 * contract/ledger-entry.ts for what an entry says). Every runtime transition goes through a
 * guarded compare-and-set here, so a late writer never replaces a newer or terminal state.
 */
import type { KV, KvEntry } from "@nats-io/kv";
import {
  isOtherMessages,
  isTerminal,
  type LedgerEntry,
  type LedgerRef,
  ledgerKey,
  type NewLedgerEntry,
} from "../contract/ledger-entry.ts";
import { checkRecordFormat, LEDGER_FORMAT } from "../nats/ledger-format.ts";

export class Ledger {
  readonly kv: KV;
  constructor(kv: KV) {
    this.kv = kv;
  }

  async get(destinationToken: string, ref: LedgerRef): Promise<LedgerEntry | undefined> {
    return storedEntry(await this.kv.get(ledgerKey(destinationToken, ref)));
  }

  /** The entry of the event `ref` at stream sequence `streamSeq` (see isOtherMessages). */
  async getOf(destinationToken: string, ref: LedgerRef, streamSeq: number): Promise<LedgerEntry | undefined> {
    const e = await this.get(destinationToken, ref);
    return isOtherMessages(e, streamSeq) ? undefined : e;
  }

  /**
   * Records `entry` unconditionally. The runtime's transitions go through the guarded writes
   * below (a late writer must never replace a newer or terminal state); this one is for tests
   * and tools that set an entry up.
   */
  async record(destinationToken: string, entry: NewLedgerEntry): Promise<void> {
    await this.kv.put(ledgerKey(destinationToken, entry), encode(entry));
  }

  /**
   * Records `entry` unless the current one is terminal. A handler whose delivery timed out (NATS
   * restarting under it) may fail late, after a redelivery finished the event: its outcome must
   * not replace the real one.
   */
  recordUnlessTerminal(destinationToken: string, entry: NewLedgerEntry, o: WriteOptions = {}): Promise<Written> {
    return this.update(
      destinationToken,
      entry,
      (cur) => (isTerminal(cur?.state) && !isOtherMessages(cur, entry.streamSeq) ? undefined : entry),
      o,
    );
  }

  /**
   * Records `uploaded` unless the event is `superseded` or `dead` already. An upload that
   * finishes late (its holder cut off from NATS, or frozen, past its lease) may find its event
   * superseded by the newer version another replica then wrote, or dead after its attempts ran
   * out: that later verdict stands. What it may replace: nothing yet, a state on the way
   * (`pending`, `uploading`, a replay's revived entry), an `uploaded` of the same event (a
   * redelivery finishing after a crash lost the ack), or another message's entry under the
   * same id (isOtherMessages).
   */
  recordUploaded(destinationToken: string, entry: NewLedgerEntry, o: WriteOptions = {}): Promise<Written> {
    return this.update(
      destinationToken,
      entry,
      (cur) =>
        cur === undefined || isOtherMessages(cur, entry.streamSeq) || !isTerminal(cur.state) || cur.state === "uploaded"
          ? entry
          : undefined,
      o,
    );
  }

  /**
   * Records an upload's progress (`entry`: an uploading entry with `bytesDone`) only while the
   * current entry is that same attempt's `uploading`: a progress write that arrives late never
   * turns a retry's `pending` or a final state back into `uploading`.
   */
  recordProgress(destinationToken: string, entry: NewLedgerEntry): Promise<Written> {
    return this.update(destinationToken, entry, (cur) =>
      cur?.state === "uploading" && cur.attempts === entry.attempts ? entry : undefined,
    );
  }

  /**
   * Compare-and-set: `next` sees the current entry (or undefined) and returns the entry to write,
   * or undefined to leave it. Retried while another writer moves the entry meanwhile. Returns
   * the revision it wrote, or undefined when it left the entry as it was.
   */
  async update(
    destinationToken: string,
    ref: LedgerRef,
    next: (current: LedgerEntry | undefined) => NewLedgerEntry | undefined,
    o: WriteOptions = {},
  ): Promise<Written> {
    const key = ledgerKey(destinationToken, ref);
    const fresh = o.expectNew ? next(undefined) : undefined;
    // A create succeeds only while there is no entry, exactly when `next(undefined)` is the
    // write to make; if one exists after all, the read and compare-and-set below decide.
    const created = fresh && (await this.createIfAbsent(key, fresh));
    if (created) return created;
    for (;;) {
      const cur = await this.kv.get(key);
      const live = cur?.operation === "PUT" ? cur : undefined;
      const entry = next(storedEntry(live));
      if (!entry) return undefined;
      try {
        return live
          ? await this.kv.update(key, encode(entry), live.revision)
          : await this.kv.create(key, encode(entry));
      } catch (err) {
        if (!isRevisionConflict(err)) throw err;
      }
    }
  }

  private async createIfAbsent(key: string, entry: NewLedgerEntry): Promise<Written> {
    try {
      return await this.kv.create(key, encode(entry));
    } catch (err) {
      if (isRevisionConflict(err)) return undefined;
      throw err;
    }
  }
}

/** What a guarded write did: the revision it wrote (truthy), or undefined when it wrote nothing. */
export type Written = number | undefined;

/** How a guarded write may go about it; what it writes is the same either way. */
export interface WriteOptions {
  /**
   * The writer expects no entry yet (a first delivery that wrote none): the write is tried as a
   * create before any read, saving the read (one JetStream API request) per artifact in the
   * common case, and costing a refused create when an entry exists after all.
   */
  expectNew?: boolean;
}

/** The KV answer to a compare-and-set whose expected revision moved (or a create of an existing key). */
export function isRevisionConflict(err: unknown): boolean {
  return err instanceof Error && /wrong last sequence|key exists/i.test(err.message);
}

function encode(entry: NewLedgerEntry): string {
  return JSON.stringify({ ...entry, format: LEDGER_FORMAT, updatedAt: new Date().toISOString() });
}

/**
 * The entry a KV read or watch gave (undefined for none or a deletion). Throws LedgerFormatError
 * for an entry written in a format this release does not read, rather than misread it.
 */
export function storedEntry(e: KvEntry | null | undefined): LedgerEntry | undefined {
  if (e?.operation !== "PUT") return undefined;
  const entry = e.json<LedgerEntry>();
  checkRecordFormat(entry, `ledger entry ${e.key}`);
  return entry;
}
