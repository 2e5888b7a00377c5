/**
 * What `artifact-bus put` tells a person while it works: staging, then each destination's state
 * and upload progress (from the ledger's `bytesDone`). On a terminal it draws bars in place
 * (TerminalProgress); otherwise it writes plain lines a log keeps (PlainProgress).
 */
import type { LedgerEntry } from "../../contract/ledger-entry.ts";
import { PlainProgress } from "./plain-progress.ts";
import { TerminalProgress } from "./terminal-progress.ts";

/** Where progress goes: stderr, or a fake in tests. */
export interface ProgressStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  /** Terminal width, when known. */
  readonly columns?: number;
}

/** What a destination's row shows. */
export type DestinationProgress = Pick<LedgerEntry, "state" | "bytesDone" | "location" | "error">;

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

export interface PutProgressOptions {
  /** The artifact's name. */
  name: string;
  /** Its size in bytes. */
  total: number;
}

/** Bars on a terminal, plain lines otherwise. */
export function putProgress(stream: ProgressStream, o: PutProgressOptions): PutProgress {
  return stream.isTTY ? new TerminalProgress(stream, o) : new PlainProgress(stream, o);
}
