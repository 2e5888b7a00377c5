/**
 * What a ledger entry says: per (destination, event) state, read by the publisher's flush(), by
 * status and by blob release, written by the uploader. Its own file so that every side speaks it
 * without importing the KV-backed Ledger. Keys: `ev.<destinationToken>.<project>.<run>.<eventId>`.
 * Project and run come from the event's subject, which NATS permissions guard, so a producer can
 * only ever touch entries of its own project, and a run's waiters can watch just
 * `ev.*.<project>.<run>.*`.
 */
/** Where an event stands at one destination; the last three are final (TERMINAL_STATES). */
export type LedgerState = "pending" | "uploading" | "uploaded" | "superseded" | "dead";
/** The states no later delivery moves an entry out of (short of a DLQ replay reviving a dead one). */
export const TERMINAL_STATES: readonly LedgerState[] = ["uploaded", "superseded", "dead"];

/** Why an event is dead: an invalid event, a permanent error, or transient ones until attempts ran out. */
export type DeadClass = "permanent" | "transient" | "invalid";

/** Which event an entry is about. */
export interface LedgerRef {
  project: string;
  run: string;
  eventId: string;
}

/**
 * One upload attempt that ran (waits are not attempts), as an entry's `history` keeps it. It is
 * written with the write that ends the attempt (uploaded, pending for a retry, or dead), which
 * happens anyway: the history costs no extra write, only bytes in the entry.
 */
export interface AttemptRecord {
  /** Its number among the event's attempts at this destination (1 for the first). */
  attempt: number;
  startedAt: string;
  endedAt: string;
  outcome: "uploaded" | "failed";
  error?: string;
  /** The uploader replica that made it. */
  replica: string;
}

/** How many attempts an entry's `history` keeps: the last ones (an entry stays small). */
export const ATTEMPT_HISTORY = 5;

/** One event's entry at one destination, as stored. */
export interface LedgerEntry extends LedgerRef {
  state: LedgerState;
  destination: string;
  name: string;
  /** Stream sequence that orders this version among its key's versions (a replay keeps its original's). */
  streamSeq: number;
  /** Upload attempts made so far; waits (lease, breaker, shutdown) are not attempts. */
  attempts: number;
  /** Remote location when uploaded. */
  location?: string;
  /** Bytes the destination took, when uploaded (the receipt's size; absent from older releases). */
  size?: number;
  /** Backend facts from the receipt (version id, etag, ...) when uploaded. */
  details?: Record<string, string>;
  /** Last error, when retrying or dead. */
  error?: string;
  /** The last ATTEMPT_HISTORY attempts, oldest first (absent from older releases and before an attempt ended). */
  history?: AttemptRecord[];
  /** For uploading: bytes sent so far, as the adapter reported them (written at most once a second). */
  bytesDone?: number;
  /** For superseded: the stream sequence that superseded it. */
  supersededBy?: number;
  /** For dead: why (an invalid event, a permanent error, transient ones until attempts ran out). */
  errorClass?: DeadClass;
  /** For dead: the sequence of its letter in the DLQ stream, once published. */
  dlqSeq?: number;
  /** Set while (and after) a replay of DLQ entry `replayDlqSeq` runs for this event. */
  replayDlqSeq?: number;
  /** When it was written (ISO 8601), set by the write itself. */
  updatedAt: string;
  /** The ledger format it was written in (nats/ledger-format.ts), set by the write; absent in format 1. */
  format?: number;
}

/** An entry as its writer gives it: the write stamps `updatedAt`. */
export type NewLedgerEntry = Omit<LedgerEntry, "updatedAt" | "format">;

/** The KV key of an event's entry at one destination. */
export function ledgerKey(destinationToken: string, ref: LedgerRef): string {
  return `ev.${destinationToken}.${ref.project}.${ref.run}.${ref.eventId}`;
}

/** KV key filter for every entry of one run, at every destination. */
export function runLedgerFilter(project: string, run: string): string {
  return `ev.*.${project}.${run}.*`;
}

/** Whether `state` is final (see TERMINAL_STATES); false for no entry. */
export function isTerminal(state: LedgerState | undefined): boolean {
  return state !== undefined && TERMINAL_STATES.includes(state);
}

/**
 * Whether a reader may take `entry` as the event's last word at its destination: final, and when
 * dead, with its letter out (`dlqSeq`), so whoever hears "dead" can replay it at once. The
 * uploader records a death before it sends the letter (the record claims the death, so one death
 * gives one letter), and only then notes the letter's sequence.
 */
export function isSettled(entry: LedgerEntry | undefined): boolean {
  return isTerminal(entry?.state) && !(entry?.state === "dead" && entry.dlqSeq === undefined);
}

/**
 * Whether `entry`, found under the id of the event at stream sequence `streamSeq`, was written
 * for another message: one that failed admission (`errorClass: "invalid"`) but carried the same
 * id. Producers choose ids, so such a message must never stand for the event: its entry is
 * treated as absent by that event's reads and writes.
 */
export function isOtherMessages(entry: LedgerEntry | undefined, streamSeq: number): boolean {
  return entry?.errorClass === "invalid" && entry.streamSeq !== streamSeq;
}
