/**
 * Waits until ledger entries are terminal: what `flush()` needs. Many entries are first walked
 * in logging order (ledger-walk.ts: each read about once, as uploads move on, one that stalls
 * passed over until the end); the last few, and those passed over, are waited for with
 * a watch of the run's ledger updates (only that run's keys; at one destination, only those),
 * read once when the watch starts, and again after a reconnect.
 */
import { type KvWatchEntry, KvWatchInclude } from "@nats-io/kv";
import type { NatsConnection, QueuedIterator, Status } from "@nats-io/transport-node";
import { destinationFromToken } from "../contract/destination-name.ts";
import {
  isOtherMessages,
  isSettled,
  type LedgerEntry,
  type LedgerRef,
  type LedgerState,
  ledgerKey,
  runLedgerFilter,
} from "../contract/ledger-entry.ts";
import { type Ledger, storedEntry } from "./ledger.ts";
import { WalkPause, walk } from "./ledger-walk.ts";

export interface AwaitedEntry extends LedgerRef {
  destinationToken: string;
  name: string;
  /** The event's stream sequence, when known: an entry another message wrote under its id is ignored. */
  streamSeq?: number;
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

/** Between attempts to start the watch while NATS is away. */
const RETRY_MS = 1_000;
/**
 * With more entries than this awaited, the waiter first walks them (ledger-walk.ts) and watches
 * only for the last few. A run's watch hears every artifact of the run: with hundreds of
 * trainers flushing a backlog at once, each ledger write went to every one of them,
 * nats-server's CPU per write grew with the watchers, and the ledger's writes waited behind
 * those deliveries.
 */
const WATCH_AT = 8;
/**
 * A full re-read of what is still awaited, as a safety net only: the watch is an ordered
 * consumer that resumes after its last sequence, and a reconnect or a watch that ended re-reads
 * at once. Each re-read costs a KV get per awaited entry (hundreds of flushes at once, thousands
 * of entries each), so it is rare.
 */
const SAFETY_REREAD_MS = 30_000;
/** One more read of what is still awaited this long after the watch started (see its use). */
const LAGGING_REPLICA_REREAD_MS = 2_000;
/** KV gets in flight at once while (re-)reading. */
const READ_CONCURRENCY = 32;

/** Told every entry read or watched for an awaited (event, destination), in the order seen. */
export type EntryListener = (awaited: AwaitedEntry, entry: LedgerEntry) => void;

export interface WaitOptions {
  /** Told every entry seen for an awaited (event, destination), e.g. to show progress. */
  onEntry?: EntryListener;
  /** The connection the ledger uses: after it reconnects, the watch restarts and re-reads. */
  connection?: NatsConnection;
  /** The walk's shortest and longest pause between reads of an unfinished entry (for tests). */
  walkPauseMs?: readonly [number, number];
}

/**
 * Resolves when every entry is terminal; rejects with FlushTimeoutError after `timeoutMs`.
 * Past WATCH_AT entries, they are walked first (see `walk`), with the last entry watched
 * meanwhile so that its end cuts the walk's pause short; those left (the last few, and any the
 * walk passed over) are read once the watch is up (so no change falls between the two), and
 * again whenever the watch restarts: after
 * `connection` reconnects (the watch may have missed a change meanwhile) or when it ended.
 * NATS being away only delays it: a watch that cannot be created now is tried again every second.
 */
export async function waitForTerminal(
  ledger: Ledger,
  entries: AwaitedEntry[],
  timeoutMs: number,
  options: WaitOptions = {},
): Promise<void> {
  const waiting = new Map<string, AwaitedEntry & { state: LedgerState | "unknown" }>();
  for (const e of entries) waiting.set(ledgerKey(e.destinationToken, e), { ...e, state: "unknown" });
  if (waiting.size === 0) return;
  const wide = watchFilter(entries);
  // The watch is first of the last entry awaited alone (its exact key: a consumer like the
  // run's), and of `wide` only once that one is done and others are not. Uploads run roughly in
  // logging order, so the last logged is mostly the last to finish, and the trainer hears none
  // of its run's other trainers: with 64 trainers of a run flushing at once, the last few
  // writes of each went to all 64 (2.2 deliveries per artifact in the many-trainers bench).
  let narrow: string | undefined;
  let watchingNarrow = false;
  // While the walk runs, the last entry's watch is up: its end cuts the walk's pause short.
  let walking = false;
  const pause = new WalkPause();
  let allDone!: () => void;
  const done = new Promise<"done">((resolve) => {
    allDone = () => resolve("done");
  });
  let finished = false;
  const settle = (key: string, entry: LedgerEntry | undefined) => {
    const w = waiting.get(key);
    if (!w || !entry || (w.streamSeq !== undefined && isOtherMessages(entry, w.streamSeq))) return;
    options.onEntry?.(w, entry);
    if (isSettled(entry)) waiting.delete(key);
    else w.state = entry.state;
    if (waiting.size === 0) {
      finished = true;
      allDone();
    } else if (key === narrow && watchingNarrow && !waiting.has(key)) {
      // The one watched is done but not all: the rest most likely too (uploads run roughly in
      // logging order). Walking, read on at once; else watch them all (and read them again).
      if (walking) pause.wake();
      else restartWatch();
    }
  };
  const reread = async (mine = generation) => {
    // While one entry is watched alone, the others are read when the watch widens, not before:
    // what is not watched can change right after a read anyway.
    const alone = watchingNarrow && narrow !== undefined ? waiting.get(narrow) : undefined;
    const queue = alone ? [alone] : [...waiting.values()];
    const worker = async () => {
      // A watch started since reads them all again itself.
      for (let w = queue.shift(); w && !finished && mine === generation; w = queue.shift()) {
        settle(ledgerKey(w.destinationToken, w), await ledger.get(w.destinationToken, w));
      }
    };
    await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, queue.length) }, worker)).catch(
      () => undefined, // NATS away: the watch restarts, and reads again, once it is back
    );
  };
  let watch: QueuedIterator<KvWatchEntry> | undefined;
  let retry: NodeJS.Timeout | undefined;
  // Each start supersedes the ones before it (a reconnect while a watch was being created).
  let generation = 0;
  const startWatch = async (): Promise<void> => {
    clearTimeout(retry);
    const filter = narrow !== undefined && waiting.has(narrow) ? narrow : wide;
    // The walk reads the rest; the run's watch starts only when it is done.
    if (walking && filter === wide) return;
    const mine = ++generation;
    if (finished) return;
    let w: QueuedIterator<KvWatchEntry>;
    try {
      w = await ledger.kv.watch({ key: filter, include: KvWatchInclude.UpdatesOnly });
    } catch {
      if (mine === generation) retry = setTimeout(() => void startWatch(), RETRY_MS); // NATS is away
      return;
    }
    if (finished || mine !== generation) return w.stop();
    watch = w;
    watchingNarrow = filter === narrow;
    void (async () => {
      try {
        for await (const e of w) {
          // A run's watch hears every artifact of the run, most of them other trainers': decide
          // by key before parsing.
          if (e.operation === "PUT" && waiting.has(e.key)) settle(e.key, storedEntry(e));
        }
      } catch {
        // Ended by an error: started again below.
      }
      if (watch !== w) return; // stopped on purpose (a reconnect, or the end)
      watch = undefined;
      if (!finished) retry = setTimeout(() => void startWatch(), RETRY_MS);
    })();
    // Watch first, then read: a transition between the two is seen by one or the other.
    await reread(mine);
  };
  const restartWatch = () => {
    const w = watch;
    watch = undefined;
    w?.stop();
    void startWatch();
  };
  // The client's status iterator has stop() (removing its listener), though its type omits it.
  const status = options.connection?.status() as (AsyncIterable<Status> & { stop?: () => void }) | undefined;
  if (status) {
    void (async () => {
      for await (const s of status) if (s.type === "reconnect") restartWatch();
    })().catch(() => undefined);
  }
  let timer: NodeJS.Timeout | undefined;
  let safety: NodeJS.Timeout | undefined;
  let lagged: NodeJS.Timeout | undefined;
  const deadline = Date.now() + timeoutMs;
  try {
    narrow = [...waiting.keys()].at(-1);
    if (waiting.size > WATCH_AT) {
      walking = true;
      try {
        await startWatch();
        await walk(ledger, waiting, settle, { deadline, leave: WATCH_AT, pause, pauseMs: options.walkPauseMs });
      } finally {
        walking = false;
      }
      if (waiting.size === 0) return;
      // The last entry's watch stays while that one is awaited; else the run's is started now.
      if (!(watchingNarrow && watch && narrow !== undefined && waiting.has(narrow))) {
        const w = watch;
        watch = undefined;
        w?.stop();
        await startWatch();
      }
    } else await startWatch();
    if (waiting.size === 0) return;
    // A trainer reads by direct get, which any replica answers: one that lagged the leader when
    // the watch started may have missed a change the watch (created on the leader) will not repeat.
    lagged = setTimeout(() => void reread(), LAGGING_REPLICA_REREAD_MS);
    safety = setInterval(() => void reread(), SAFETY_REREAD_MS);
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
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
    finished = true;
    clearTimeout(timer);
    clearTimeout(retry);
    clearInterval(safety);
    clearTimeout(lagged);
    status?.stop?.();
    const w = watch;
    watch = undefined;
    w?.stop();
  }
}

/**
 * The narrowest single filter covering `entries`: one destination and one run where they share
 * them (a trainer's flush), else every destination of one run, else one project, else the
 * whole ledger.
 */
function watchFilter(entries: AwaitedEntry[]): string {
  const [first] = entries as [AwaitedEntry];
  const oneProject = entries.every((e) => e.project === first.project);
  // A trainer may watch only its own project's keys (docs/security.md).
  if (!oneProject) return "ev.>";
  const oneRun = entries.every((e) => e.run === first.run);
  if (!oneRun) return `ev.*.${first.project}.>`;
  const oneDestination = entries.every((e) => e.destinationToken === first.destinationToken);
  return oneDestination
    ? `ev.${first.destinationToken}.${first.project}.${first.run}.*`
    : runLedgerFilter(first.project, first.run);
}
