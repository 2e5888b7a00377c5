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
   * Records a transition. A terminal entry is never overwritten by a non-terminal one, so a
   * late redelivery cannot make an uploaded artifact look pending again.
   */
  async record(destinationToken: string, entry: Omit<LedgerEntry, "updatedAt">): Promise<void> {
    const key = ledgerKey(destinationToken, entry.eventId);
    const value = JSON.stringify({ ...entry, updatedAt: new Date().toISOString() });
    if (!isTerminal(entry.state)) {
      const cur = await this.kv.get(key);
      if (cur && cur.operation === "PUT" && isTerminal(cur.json<LedgerEntry>().state)) return;
    }
    await this.kv.put(key, value);
  }
}
