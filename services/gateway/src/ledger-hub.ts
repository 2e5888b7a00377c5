/**
 * One watch on the whole ledger, fanned out to every waiting request. Many trainers wait at the
 * end of a job at once: each `/wait` registers the ledger keys it needs and hears their changes
 * from the one watch, so a waiter costs a map entry, not a subscription or a poll loop. The
 * watch runs while anyone waits. A waiter's keys are read once when it registers (after the
 * watch is up, so no change falls between the two), and again after NATS reconnects, in case
 * the watch missed a change meanwhile; entries carry their revision, so an older read never
 * overwrites a newer change. Taps (the live stream of the operations page) hear every change
 * from the same watch, which then runs while anyone waits or taps.
 */
import { type Ledger, type LedgerEntry, type Logger, storedEntry } from "@artifact-bus/shared";
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

export class LedgerHub {
  private readonly ledger: Ledger;
  private readonly log: Logger;
  private readonly byKey = new Map<string, Set<Interest>>();
  private readonly latest = new Map<string, Seen>();
  private readonly taps = new Set<Tap>();
  private readonly resyncs = new Set<() => void>();
  private watch: QueuedIterator<KvWatchEntry> | undefined;
  private starting: Promise<void> | undefined;
  /** Ledger updates the watch delivered (for tests and metrics). */
  updates = 0;

  constructor(ledger: Ledger, nc: NatsConnection, log: Logger) {
    this.ledger = ledger;
    this.log = log;
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
      if (this.byKey.size === 0 && this.taps.size === 0) this.stopWatch();
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
      if (this.byKey.size === 0 && this.taps.size === 0) this.stopWatch();
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
   * Calls `listener` each time the watch was restarted after NATS reconnected: taps may have
   * missed changes meanwhile (waiters are read again here; a tap's owner reads what it shows).
   */
  onResync(listener: () => void): void {
    this.resyncs.add(listener);
  }

  private async ensureWatch(): Promise<void> {
    if (this.watch) return;
    this.starting ??= this.startWatch().finally(() => {
      this.starting = undefined;
    });
    await this.starting;
  }

  private async startWatch(): Promise<void> {
    const w = await this.ledger.kv.watch({ key: "ev.>", include: KvWatchInclude.UpdatesOnly });
    this.watch = w;
    void (async () => {
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
        this.log.warn({ error: (err as Error).message }, "ledger watch ended");
      }
      if (this.watch === w) this.watch = undefined;
    })();
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

  /** After a reconnect the watch may have missed changes: restart it and read every key again. */
  private async onReconnect(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type !== "reconnect" || (this.byKey.size === 0 && this.taps.size === 0)) continue;
      this.stopWatch();
      try {
        await this.ensureWatch();
        await this.read([...this.byKey.keys()]);
      } catch (err) {
        this.log.warn({ error: (err as Error).message }, "ledger re-read after reconnect failed");
      }
      if (this.taps.size > 0) for (const resync of this.resyncs) resync();
    }
  }
}
