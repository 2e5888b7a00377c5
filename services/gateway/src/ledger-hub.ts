/**
 * One watch on the whole ledger, fanned out to every waiting request. Many trainers wait at the
 * end of a job at once: each `/wait` registers the ledger keys it needs and hears their changes
 * from the one watch, so a waiter costs a map entry, not a subscription or a poll loop. The
 * watch runs while anyone waits. A waiter's keys are read once when it registers (after the
 * watch is up, so no change falls between the two), and again after NATS reconnects, in case
 * the watch missed a change meanwhile; entries carry their revision, so an older read never
 * overwrites a newer change. Taps (the live stream of the operations page) hear every change
 * from the same watch, which then runs while anyone waits or taps.
 *
 * The watch can also end on its own while NATS stays connected: nats.js stops an ordered
 * consumer that it failed to re-create 30 times, or whose subscription the server dropped (a
 * permission reload). While anyone waits or taps it is then started again after a backoff, and
 * everything is resynced as after a reconnect; `close()` ends that for good.
 */
import {
  type BackoffConfig,
  backoffDelay,
  type Ledger,
  type LedgerEntry,
  type Logger,
  storedEntry,
} from "@artifact-bus/shared";
import { type KvWatchEntry, KvWatchInclude } from "@nats-io/kv";
import type { NatsConnection, QueuedIterator } from "@nats-io/transport-node";

/** A ledger key's entry and its revision (0: read as absent). */
export interface Seen {
  entry: LedgerEntry | undefined;
  revision: number;
}

/** One registered interest: it hears every change of its keys. */
export interface Interest {
  readonly keys: readonly string[];
  update(key: string, seen: Seen): void;
}

/** A listener of every ledger change. */
export type Tap = (key: string, seen: Seen) => void;

/**
 * Waits before starting a watch that ended on its own again: the first try comes soon (waiters
 * are deaf meanwhile), later ones spread out, so a server that keeps refusing is not hammered.
 */
const RESTART_BACKOFF: BackoffConfig = { initialMs: 250, maxMs: 10_000, multiplier: 2, jitter: 0.25 };

export class LedgerHub {
  private readonly ledger: Ledger;
  private readonly log: Logger;
  private readonly nc: NatsConnection;
  private readonly byKey = new Map<string, Set<Interest>>();
  private readonly latest = new Map<string, Seen>();
  private readonly taps = new Set<Tap>();
  private readonly resyncs = new Set<() => void>();
  private watch: QueuedIterator<KvWatchEntry> | undefined;
  private starting: Promise<void> | undefined;
  /** The pending restart of a watch that ended on its own. */
  private restartTimer: NodeJS.Timeout | undefined;
  /** Restarts since a watch last lived long: a watch that keeps ending at once is retried ever slower. */
  private restartAttempt = 0;
  private closed = false;
  /** Ledger updates the watch delivered (for tests and metrics). */
  updates = 0;

  constructor(ledger: Ledger, nc: NatsConnection, log: Logger) {
    this.ledger = ledger;
    this.log = log;
    this.nc = nc;
    void this.onReconnect(nc);
  }

  /** Interests registered now. */
  get size(): number {
    return new Set([...this.byKey.values()].flatMap((s) => [...s])).size;
  }

  /** Registers `interest`, hands it the current entries of its keys, and returns how to unregister. */
  async register(interest: Interest): Promise<() => void> {
    for (const key of interest.keys) {
      const set = this.byKey.get(key) ?? new Set<Interest>();
      this.byKey.set(key, set);
      set.add(interest);
    }
    const unregister = () => {
      for (const key of interest.keys) {
        const set = this.byKey.get(key);
        set?.delete(interest);
        if (set?.size === 0) {
          this.byKey.delete(key);
          this.latest.delete(key);
        }
      }
      if (!this.needed) this.stopWatch();
    };
    try {
      await this.ensureWatch();
      await this.read(interest.keys);
    } catch (err) {
      unregister();
      throw err;
    }
    return unregister;
  }

  /**
   * Hears every ledger change (key, entry) from the one watch until the returned function is
   * called; starts the watch if nobody else needs it. No current entries are read for a tap.
   */
  async tap(listener: Tap): Promise<() => void> {
    this.taps.add(listener);
    const untap = () => {
      this.taps.delete(listener);
      if (!this.needed) this.stopWatch();
    };
    try {
      await this.ensureWatch();
    } catch (err) {
      untap();
      throw err;
    }
    return untap;
  }

  /**
   * Calls `listener` each time the watch was restarted after NATS reconnected or after it ended
   * on its own: taps may have missed changes meanwhile (waiters are read again here; a tap's
   * owner reads what it shows).
   */
  onResync(listener: () => void): void {
    this.resyncs.add(listener);
  }

  /** Stops the watch and any pending restart of it for good: the gateway is stopping. */
  close(): void {
    this.closed = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.stopWatch();
  }

  /** Whether anyone waits or taps, so the watch must run. */
  private get needed(): boolean {
    return this.byKey.size > 0 || this.taps.size > 0;
  }

  private async ensureWatch(): Promise<void> {
    if (this.closed) throw new Error("the ledger hub is closed");
    if (this.watch) return;
    this.starting ??= this.startWatch().finally(() => {
      this.starting = undefined;
    });
    await this.starting;
  }

  private async startWatch(): Promise<void> {
    const w = await this.ledger.kv.watch({ key: "ev.>", include: KvWatchInclude.UpdatesOnly });
    this.watch = w;
    const startedAt = Date.now();
    void (async () => {
      let ended = "the watch ended by itself";
      try {
        for await (const e of w) {
          this.updates++;
          // Most of the ledger's traffic is nobody's concern here: decide by key before parsing.
          if (!this.byKey.has(e.key) && this.taps.size === 0) continue;
          let entry: LedgerEntry | undefined;
          try {
            entry = storedEntry(e);
          } catch {
            continue; // not JSON, or in a format this release does not read: no entry to show
          }
          const seen = { entry, revision: e.revision };
          if (this.byKey.has(e.key)) this.deliver(e.key, seen);
          for (const tap of this.taps) {
            try {
              tap(e.key, seen);
            } catch (err) {
              this.log.warn({ error: (err as Error).message }, "ledger tap failed");
            }
          }
        }
      } catch (err) {
        ended = `the watch failed: ${(err as Error).message}`;
      }
      // stopWatch() (nobody needs it, a reconnect, close) clears `watch` first: ended on purpose.
      if (this.watch !== w) return;
      this.watch = undefined;
      if (Date.now() - startedAt >= RESTART_BACKOFF.maxMs) this.restartAttempt = 0;
      this.scheduleRestart(ended);
    })();
  }

  /**
   * Starts the watch again after a backoff, then reads the waiters' keys and tells the taps to
   * resync; a failed try is tried again, later. At most one restart is pending; none once nobody
   * needs the watch or the hub is closed.
   */
  private scheduleRestart(why: string): void {
    // A closed connection does not come back: nothing to restart on.
    if (this.closed || this.restartTimer || !this.needed || this.nc.isClosed()) return;
    const attempt = ++this.restartAttempt;
    const delayMs = backoffDelay(attempt, RESTART_BACKOFF);
    this.log.warn({ reason: why, attempt, delayMs }, "restarting the ledger watch");
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.closed || !this.needed) return;
      this.resync().catch((err: Error) => this.scheduleRestart(`restart failed: ${err.message}`));
    }, delayMs);
  }

  private stopWatch(): void {
    this.watch?.stop();
    this.watch = undefined;
  }

  /** Reads keys directly (at most 32 at once) and delivers what is newer than what was seen. */
  private async read(keys: readonly string[]): Promise<void> {
    const queue = [...keys];
    const worker = async () => {
      for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
        const e = await this.ledger.kv.get(key);
        this.deliver(key, {
          entry: storedEntry(e),
          revision: e?.revision ?? 0,
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(32, queue.length) }, worker));
  }

  private deliver(key: string, seen: Seen): void {
    const known = this.latest.get(key);
    if (known && known.revision > seen.revision) seen = known;
    else if (this.byKey.has(key)) this.latest.set(key, seen);
    for (const interest of this.byKey.get(key) ?? []) interest.update(key, seen);
  }

  /** Starts the watch if it is down, reads every waiter's key again and tells the taps to resync. */
  private async resync(): Promise<void> {
    await this.ensureWatch();
    await this.read([...this.byKey.keys()]);
    if (this.taps.size > 0) for (const resync of this.resyncs) resync();
  }

  /** After a reconnect the watch may have missed changes: restart it and read every key again. */
  private async onReconnect(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type !== "reconnect" || this.closed || !this.needed) continue;
      this.stopWatch();
      try {
        await this.resync();
      } catch (err) {
        // Not left down (or unread) until the next reconnect: tried again after a backoff.
        this.scheduleRestart(`re-read after reconnect failed: ${(err as Error).message}`);
      }
    }
  }
}
