/**
 * The operations page's live stream: every open stream hears the ledger's changes of its
 * token's projects from the one ledger watch of this gateway (LedgerHub.tap), not a watch of its
 * own; the tap is held while at least one stream is open. (The newest error of each destination
 * is kept whether or not a stream is open: destination-activity.ts.)
 */
import type { LedgerEntry, Logger } from "@artifact-bus/shared";
import type { LedgerHub, Seen } from "./ledger-hub.ts";

/** One change of one artifact version at one destination, as the stream sends it. */
export interface LiveEntry {
  eventId: string;
  project: string;
  run: string;
  name: string;
  destination: string;
  state: LedgerEntry["state"];
  attempts: number;
  updatedAt: string;
  streamSeq: number;
  error?: string;
  errorClass?: string;
  bytesDone?: number;
  location?: string;
  dlqSeq?: number;
}

interface Listener {
  send(entry: LiveEntry): void;
  /** The watch restarted (NATS reconnected): changes may have been missed, read the state again. */
  resync(): void;
  accepts(project: string): boolean;
  /** Whether its token still holds (tokens reloaded); default yes. */
  valid?(): boolean;
  end(): void;
}

export class LiveFeed {
  private readonly hub: LedgerHub;
  private readonly log: Logger;
  private readonly listeners = new Set<Listener>();
  private untap: (() => void) | undefined;
  private tapping: Promise<void> | undefined;
  /** Ledger changes the feed handed out (for tests and metrics). */
  delivered = 0;

  constructor(hub: LedgerHub, log: Logger) {
    this.hub = hub;
    this.log = log;
    hub.onResync(() => {
      for (const l of this.listeners) l.resync();
    });
  }

  /** Streams open now. */
  get size(): number {
    return this.listeners.size;
  }

  /** Set once the gateway stops: streams joining after it end at once. */
  private closed = false;

  /** Adds a stream; resolves once the watch runs, with the function that removes it. */
  async join(listener: Listener): Promise<() => void> {
    // A stream opened while the gateway stops (a page reconnecting at once) ends at once too:
    // else it would hold the stop for its whole grace period.
    if (this.closed) {
      listener.end();
      return () => {};
    }
    this.listeners.add(listener);
    const leave = () => {
      if (!this.listeners.delete(listener)) return;
      if (this.listeners.size === 0) {
        this.untap?.();
        this.untap = undefined;
      }
    };
    try {
      if (!this.untap) {
        this.tapping ??= this.hub
          .tap((key, seen) => this.onChange(key, seen))
          .then((untap) => {
            // Everyone may have left while the watch started.
            if (this.listeners.size === 0) untap();
            else this.untap = untap;
          })
          .finally(() => {
            this.tapping = undefined;
          });
        await this.tapping;
      }
    } catch (err) {
      leave();
      throw err;
    }
    return leave;
  }

  /** Ends the streams whose token no longer holds (revoked or changed on a reload); they may reconnect. */
  prune(): number {
    let ended = 0;
    for (const l of [...this.listeners]) {
      if (l.valid && !l.valid()) {
        l.end();
        ended++;
      }
    }
    return ended;
  }

  /** Ends every stream, and every one opened from now on: the gateway is stopping. */
  endAll(): void {
    this.closed = true;
    for (const l of [...this.listeners]) l.end();
  }

  private onChange(key: string, seen: Seen): void {
    const entry = seen.entry;
    // ev.<destination token>.<project>.<run>.<event id>: the key, which only the destination's
    // uploaders may write, names the project; an entry claiming another is not shown.
    const parts = key.split(".");
    if (!entry || parts.length !== 5 || parts[0] !== "ev") return;
    const [, , project, run, eventId] = parts as [string, string, string, string, string];
    if (entry.project !== project || entry.run !== run || entry.eventId !== eventId) {
      this.log.debug({ key }, "live feed skipped an entry that does not match its key");
      return;
    }
    const live: LiveEntry = {
      eventId,
      project,
      run,
      name: entry.name,
      destination: entry.destination,
      state: entry.state,
      attempts: entry.attempts,
      updatedAt: entry.updatedAt,
      streamSeq: entry.streamSeq,
      ...(entry.error === undefined ? {} : { error: entry.error }),
      ...(entry.errorClass === undefined ? {} : { errorClass: entry.errorClass }),
      ...(entry.bytesDone === undefined ? {} : { bytesDone: entry.bytesDone }),
      ...(entry.location === undefined ? {} : { location: entry.location }),
      ...(entry.dlqSeq === undefined ? {} : { dlqSeq: entry.dlqSeq }),
    };
    for (const l of this.listeners) {
      if (!l.accepts(project)) continue;
      this.delivered++;
      l.send(live);
    }
  }
}
