/**
 * The ledger: per (destination, event) state in the KV bucket, for status, flush() and blob
 * release. Keys: `ev.<destinationToken>.<eventId>`.
 */
import type { KV } from "@nats-io/kv";

export type LedgerState = "pending" | "uploading" | "uploaded" | "superseded" | "dead";
export const TERMINAL_STATES: readonly LedgerState[] = ["uploaded", "superseded", "dead"];

export interface LedgerEntry {
  state: LedgerState;
  destination: string;
  eventId: string;
  project: string;
  run: string;
  name: string;
  streamSeq: number;
  attempts: number;
  /** Remote location when uploaded. */
  location?: string;
  /** Last error, when retrying or dead. */
  error?: string;
  /** For superseded: the stream sequence that superseded it. */
  supersededBy?: number;
  /** On an event that died here and was then replayed: the id of the replay that finished it. */
  replayId?: string;
  updatedAt: string;
}

export function ledgerKey(destinationToken: string, eventId: string): string {
  return `ev.${destinationToken}.${eventId}`;
}

export function isTerminal(state: LedgerState | undefined): boolean {
  return state !== undefined && TERMINAL_STATES.includes(state);
}

export class Ledger {
  readonly kv: KV;
  constructor(kv: KV) {
    this.kv = kv;
  }

  async get(destinationToken: string, eventId: string): Promise<LedgerEntry | undefined> {
    const e = await this.kv.get(ledgerKey(destinationToken, eventId));
    return e && e.operation === "PUT" ? e.json<LedgerEntry>() : undefined;
  }

  /**
   * Records a transition. The worker reads the entry before it starts on a delivery and stops
   * if it is terminal, so the happy path needs no compare-and-set.
   */
  async record(destinationToken: string, entry: Omit<LedgerEntry, "updatedAt">): Promise<void> {
    await this.kv.put(ledgerKey(destinationToken, entry.eventId), encode(entry));
  }

  /**
   * Records a failure unless the entry is terminal already. A handler whose delivery timed out
   * (e.g. NATS restarting under it) may fail late, after a redelivery finished the event: its
   * outcome must not replace the real one. Compare-and-set, so the check and the write are one.
   */
  async recordUnlessTerminal(destinationToken: string, entry: Omit<LedgerEntry, "updatedAt">): Promise<boolean> {
    const key = ledgerKey(destinationToken, entry.eventId);
    for (;;) {
      const cur = await this.kv.get(key);
      const live = cur?.operation === "PUT" ? cur : undefined;
      if (live && isTerminal(live.json<LedgerEntry>().state)) return false;
      try {
        if (live) await this.kv.update(key, encode(entry), live.revision);
        else await this.kv.create(key, encode(entry));
        return true;
      } catch (err) {
        if (!(err instanceof Error && /wrong last sequence|key exists/i.test(err.message))) throw err;
      }
    }
  }
}

function encode(entry: Omit<LedgerEntry, "updatedAt">): string {
  return JSON.stringify({ ...entry, updatedAt: new Date().toISOString() });
}
