/**
 * Waits until ledger entries are terminal: what `flush()` needs. It watches ledger updates of
 * the runs it waits on (one run: only that run's keys) rather than polling every entry, so
 * waiting on thousands of artifacts costs one subscription, and re-reads the rest now and then
 * in case the watch missed an update across a reconnect.
 */
import { type KvWatchEntry, KvWatchInclude } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/transport-node";
import { destinationFromToken } from "./destination-name.ts";
import {
  isTerminal,
  type Ledger,
  type LedgerEntry,
  type LedgerRef,
  type LedgerState,
  ledgerKey,
  runLedgerFilter,
} from "./ledger.ts";

export interface AwaitedEntry extends LedgerRef {
  destinationToken: string;
  name: string;
}

export interface PendingEntry {
  destination: string;
  eventId: string;
  name: string;
  state: LedgerState | "unknown";
}

/** Raised by `flush` on timeout; lists what is still pending. */
export class FlushTimeoutError extends Error {
  override name = "FlushTimeoutError";
  readonly pending: PendingEntry[];
  constructor(pending: PendingEntry[], timeoutMs: number) {
    const list = pending.slice(0, 10).map((p) => `${p.name} at ${p.destination} (${p.state})`);
    super(
      `flush timed out after ${timeoutMs} ms; ${pending.length} still pending: ${list.join(", ")}${pending.length > 10 ? ", ..." : ""}`,
    );
    this.pending = pending;
  }
}

const RECHECK_MS = 2_000;

/** Told every entry read or watched for an awaited (event, destination), in the order seen. */
export type EntryListener = (awaited: AwaitedEntry, entry: LedgerEntry) => void;

/**
 * Resolves when every entry is terminal; rejects with FlushTimeoutError after `timeoutMs`.
 * NATS being away (restarting) only delays it: a watch that cannot be created now is retried at
 * each recheck, and failed reads are retried too.
 */
export async function waitForTerminal(
  ledger: Ledger,
  entries: AwaitedEntry[],
  timeoutMs: number,
  onEntry?: EntryListener,
): Promise<void> {
  const waiting = new Map<string, AwaitedEntry & { state: LedgerState | "unknown" }>();
  for (const e of entries) waiting.set(ledgerKey(e.destinationToken, e), { ...e, state: "unknown" });
  if (waiting.size === 0) return;
  const runs = new Set(entries.map((e) => `${e.project}.${e.run}`));
  const [first] = entries as [AwaitedEntry];
  const filter = runs.size === 1 ? runLedgerFilter(first.project, first.run) : "ev.>";
  let allDone!: () => void;
  const done = new Promise<"done">((resolve) => {
    allDone = () => resolve("done");
  });
  const settle = (key: string, entry: LedgerEntry | undefined) => {
    const w = waiting.get(key);
    if (!w || !entry) return;
    onEntry?.(w, entry);
    if (isTerminal(entry.state)) waiting.delete(key);
    else w.state = entry.state;
    if (waiting.size === 0) allDone();
  };
  let watch: QueuedIterator<KvWatchEntry> | undefined;
  const startWatch = async () => {
    try {
      watch = await ledger.kv.watch({ key: filter, include: KvWatchInclude.UpdatesOnly });
    } catch {
      return; // NATS is away; the next recheck tries again
    }
    const w = watch;
    void (async () => {
      try {
        for await (const e of w) if (e.operation === "PUT") settle(e.key, e.json<LedgerEntry>());
      } catch {
        // The rechecks carry on; a new watch starts at the next one.
      }
      if (watch === w) watch = undefined;
    })();
  };
  const recheck = async () => {
    // Watch first, then read: a transition between the two is seen by one or the other.
    if (!watch) await startWatch();
    await Promise.all(
      [...waiting.values()].map(async (w) =>
        settle(ledgerKey(w.destinationToken, w), await ledger.get(w.destinationToken, w)),
      ),
    ).catch(() => undefined);
  };
  let timer: NodeJS.Timeout | undefined;
  let rechecker: NodeJS.Timeout | undefined;
  try {
    await recheck();
    if (waiting.size === 0) return;
    rechecker = setInterval(() => void recheck(), RECHECK_MS);
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    if ((await Promise.race([done, timedOut])) === "timeout" && waiting.size > 0) {
      const pending = [...waiting.values()].map((w) => ({
        destination: destinationFromToken(w.destinationToken),
        eventId: w.eventId,
        name: w.name,
        state: w.state,
      }));
      throw new FlushTimeoutError(pending, timeoutMs);
    }
  } finally {
    clearTimeout(timer);
    clearInterval(rechecker);
    watch?.stop();
  }
}
