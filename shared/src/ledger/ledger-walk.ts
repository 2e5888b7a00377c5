/**
 * The first part of a long `flush()`: its awaited ledger entries read in logging order, about
 * once each, while uploads move on, so that the trainer hears nothing of the rest of its run
 * until only the last few are left (see ledger-waiter.ts, which watches for those).
 */
import type { LedgerEntry, LedgerRef } from "../contract/ledger-entry.ts";
import type { Ledger } from "./ledger.ts";

/** What the walk reads of an awaited entry (ledger-waiter.ts's AwaitedEntry is one). */
type Walked = LedgerRef & { destinationToken: string };

/** The shortest pause before reading an unfinished entry again. */
const WALK_POLL_MS = 100;
/**
 * The longest. A pause only delays what the walk notices in the middle of a flush: the end is
 * heard by the watch of the last entry, which cuts the pause short (WalkPause).
 */
const WALK_POLL_MAX_MS = 1_000;
/**
 * Pause for about this many uploads, at the rate this walk has seen them finish: each read of an
 * unfinished entry (a 404 mostly: uploaders write the entry when the upload is done) then buys
 * that many finished ones. With hundreds of trainers flushing a backlog at once, each sees a few
 * uploads a second: a pause reset to WALK_POLL_MS after each made 2–3 reads per artifact.
 */
const UPLOADS_PER_PAUSE = 4;
/**
 * An entry unfinished this long while nothing else the walk waited for finished is passed over
 * (e.g. an artifact being retried), and read again only when the watch of the last few starts.
 * Before, such a stall started the run's watch for everything left: the trainer then heard every
 * ledger write of its run (all its run's trainers' uploads) for the rest of its flush.
 */
export const WALK_STALL_MS = 5_000;
/** Read-ahead, in entries read at once, while whole batches turn out finished. */
const MAX_WINDOW = 32;

/**
 * The walk's pause, which the waiter cuts short when the watch of the last entry hears it
 * finish: uploads run roughly in logging order, so the rest is then most likely finished too,
 * and a flush would otherwise return up to a whole pause (WALK_POLL_MAX_MS) after its last upload.
 */
export class WalkPause {
  #end: (() => void) | undefined;
  #woken = false;
  /** Woken while the walk was reading: its next pause ends at once. */
  #early = false;

  /** Whether it was woken: the walk's last entry is done, so what is left are stragglers. */
  get woken(): boolean {
    return this.#woken;
  }

  /** Resolves after `ms`, or when woken (meanwhile, or at once if woken since the last pause). */
  sleep(ms: number): Promise<void> {
    if (this.#early) {
      this.#early = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#end?.(), ms);
      this.#end = () => {
        clearTimeout(timer);
        this.#end = undefined;
        resolve();
      };
    });
  }

  /** Ends the current pause (or the next, if none is under way); the walk's later ones are its shortest. */
  wake(): void {
    this.#woken = true;
    if (this.#end) this.#end();
    else this.#early = true;
  }
}

/**
 * Reads `waiting`'s entries (in logging order) one at a time, moving on when the entry is
 * terminal (told to `settle`), until at most `leave` are left ahead of it (plus any passed over
 * after stalling for `stallMs`), or the deadline passes. Uploads run roughly in logging order, so
 * this reads each entry about once. NATS errors only delay it.
 */
export async function walk(
  ledger: Ledger,
  waiting: ReadonlyMap<string, Walked>,
  settle: (key: string, entry: LedgerEntry | undefined) => void,
  {
    deadline,
    leave,
    stallMs = WALK_STALL_MS,
    pause: pauser = new WalkPause(),
    pauseMs = [WALK_POLL_MS, WALK_POLL_MAX_MS],
  }: {
    deadline: number;
    leave: number;
    stallMs?: number;
    pause?: WalkPause;
    /** The shortest and longest pause (tests make them long to see what ends one early). */
    pauseMs?: readonly [number, number];
  },
): Promise<void> {
  const [minPause, maxPause] = pauseMs;
  const list = [...waiting];
  let progress = Date.now();
  let passedOver = 0;
  // The upload rate is measured from the first entry found unfinished: what finished before the
  // flush (read in a burst) says nothing about the pace of what is left.
  let caughtUp: number | undefined;
  let finished = 0;
  // When the walk last found an entry unfinished: entries that finished before it are a backlog
  // (read ahead 2, 4 … 32 at a time, as a flush called late does), those after it most likely
  // the frontier, where an entry read ahead is mostly one still on its way, read for nothing.
  let lastLook = 0;
  let window = 1;
  let pause = minPause;
  let tail = false;
  for (let i = 0; waiting.size - passedOver > leave; ) {
    const now = Date.now();
    if (now >= deadline) return;
    if (now - progress >= stallMs) {
      // Passed over, still awaited: the reads when the watch starts see it.
      passedOver++;
      i++;
      progress = now;
      while (i < list.length && !waiting.has(list[i]![0])) i++;
      continue;
    }
    const batch = list.slice(i, i + window);
    const looked = Date.now();
    let newest = 0;
    await Promise.all(
      batch.map(async ([key, w]) => {
        if (!waiting.has(key)) return;
        const entry = await ledger.get(w.destinationToken, w);
        newest = Math.max(newest, entry ? Date.parse(entry.updatedAt) : looked);
        settle(key, entry);
      }),
    ).catch(() => undefined); // NATS away: try again after the pause
    const from = i;
    while (i < list.length && !waiting.has(list[i]![0])) i++;
    if (i > from) {
      progress = Date.now();
      if (caughtUp !== undefined) {
        finished += i - from;
        // At the rate seen since the walk caught up with the uploads.
        const perUpload = (progress - caughtUp) / finished;
        pause = tail ? minPause : Math.min(maxPause, Math.max(minPause, UPLOADS_PER_PAUSE * perUpload));
      }
    }
    if (i - from >= batch.length) {
      // Clocks of uploader and trainer may differ: this only decides how far to read ahead.
      window = newest < lastLook || caughtUp === undefined ? Math.min(MAX_WINDOW, window * 2) : 1;
      continue;
    }
    caughtUp ??= looked;
    lastLook = looked;
    // The walk stopped at an entry just read unfinished: read it again after a pause, longer
    // while it stays unfinished.
    // Once the last entry is done, what is left are stragglers finishing any moment: from the
    // shortest pause again (doubling while one stays unfinished), not the upload rate's.
    if (pauser.woken && !tail) {
      tail = true;
      pause = minPause;
    }
    const wait = pause;
    if (i === from) pause = Math.min(maxPause, pause * 2);
    await pauser.sleep(Math.min(wait, Math.max(0, deadline - Date.now())));
    window = 1;
  }
}
