/**
 * What a progress display is told and where it writes: shared by putProgress and the two
 * displays it picks between, in a file of their own so that neither display imports the module
 * that chooses it.
 */
import type { LedgerEntry } from "../../contract/ledger-entry.ts";

/** Where progress goes: stderr, or a fake in tests. */
export interface ProgressStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  /** Terminal width, when known. */
  readonly columns?: number;
}

/** What a destination's row shows. */
export type DestinationProgress = Pick<LedgerEntry, "state" | "bytesDone" | "location" | "error">;

/** A progress display: told what happens, in order, and draws it. */
export interface PutProgress {
  /** Bytes staged so far. */
  staging(bytesDone: number): void;
  /** Staging finished and the event is durable. What is drawn so far stays as it is. */
  staged(): void;
  /** Waiting for these destinations to take it. */
  waiting(destinations: readonly string[]): void;
  /** A ledger entry of a destination. */
  update(destination: string, entry: DestinationProgress): void;
  /** Draws the final state; nothing is written after. */
  end(): void;
}

/** What a display knows of the artifact from the start. */
export interface PutProgressOptions {
  /** The artifact's name. */
  name: string;
  /** Its size in bytes. */
  total: number;
}
