/**
 * What each destination is doing now, from the gateway's one ledger watch (LedgerHub.tap), kept
 * for as long as the gateway runs whether or not anyone watches the page: the uploads that
 * landed in the last minute (count and bytes, from the `uploaded` entries and their `size`), and
 * the newest failed attempt per (destination, project), which `/v1/destinations` reports as the
 * reason a breaker may be open. It costs a parse of each ledger change, and memory in proportion
 * to a minute of uploads (one small record each); no extra read or write of the ledger.
 */
import type { LedgerEntry, Logger } from "@artifact-bus/shared";
import type { LedgerHub, Seen } from "./ledger-hub.ts";

/** The newest failed attempt this gateway saw at a destination. */
export interface LastError {
  message: string;
  errorClass?: string;
  at: string;
  eventId: string;
  project: string;
}

/** Uploads that landed at a destination over the last `windowSeconds`. */
export interface Throughput {
  windowSeconds: number;
  uploads: number;
  bytes: number;
  uploadsPerSecond: number;
  bytesPerSecond: number;
}

/** How far back the rate looks. */
const WINDOW_MS = 60_000;

interface Landed {
  at: number;
  key: string;
  bytes: number;
}

export class DestinationActivity {
  private readonly hub: LedgerHub;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly errors = new Map<string, Map<string, LastError>>();
  /** Per destination, the uploads of the window, oldest first. */
  private readonly landed = new Map<string, Landed[]>();
  /** Keys counted in the window: an entry written `uploaded` again (a redelivery after a lost ack) counts once. */
  private readonly counted = new Set<string>();
  private untap: (() => void) | undefined;
  private since = 0;

  constructor(hub: LedgerHub, log: Logger, now: () => number = Date.now) {
    this.hub = hub;
    this.log = log;
    this.now = now;
  }

  /** Starts hearing the ledger; the watch then runs for as long as the gateway does. */
  async start(): Promise<void> {
    this.untap ??= await this.hub.tap((key, seen) => this.onChange(key, seen));
    this.since = this.now();
  }

  stop(): void {
    this.untap?.();
    this.untap = undefined;
  }

  /** The newest error at `destination` among the projects `accepts` lets through. */
  lastError(destination: string, accepts: (project: string) => boolean): LastError | undefined {
    let newest: LastError | undefined;
    for (const [project, e] of this.errors.get(destination) ?? []) {
      if (accepts(project) && (!newest || e.at > newest.at)) newest = e;
    }
    return newest;
  }

  /**
   * The destination's uploads over the last minute, or since the gateway began hearing the
   * ledger if that is shorter (a rate over a minute the gateway did not see would be too low).
   */
  throughput(destination: string): Throughput {
    const now = this.now();
    this.evict(now);
    const list = this.landed.get(destination) ?? [];
    const bytes = list.reduce((sum, l) => sum + l.bytes, 0);
    const seconds = Math.max(1, Math.round(Math.min(WINDOW_MS, now - this.since) / 1000));
    return {
      windowSeconds: seconds,
      uploads: list.length,
      bytes,
      uploadsPerSecond: round(list.length / seconds),
      bytesPerSecond: Math.round(bytes / seconds),
    };
  }

  private onChange(key: string, seen: Seen): void {
    const entry = seen.entry;
    // ev.<destination token>.<project>.<run>.<event id>: the key, which only the destination's
    // uploaders may write, names the project; an entry claiming another is not counted.
    const parts = key.split(".");
    if (!entry || parts.length !== 5 || parts[0] !== "ev") return;
    if (parts[2] !== entry.project || parts[3] !== entry.run || parts[4] !== entry.eventId) return;
    if (entry.state === "uploaded") this.onLanded(key, entry);
    else if (entry.error !== undefined && entry.state !== "superseded") this.onError(entry);
  }

  private onLanded(key: string, entry: LedgerEntry): void {
    const now = this.now();
    this.evict(now);
    if (this.counted.has(key)) return;
    this.counted.add(key);
    const list = this.landed.get(entry.destination) ?? [];
    this.landed.set(entry.destination, list);
    list.push({ at: now, key, bytes: typeof entry.size === "number" && entry.size >= 0 ? entry.size : 0 });
  }

  private onError(entry: LedgerEntry): void {
    const byProject = this.errors.get(entry.destination) ?? new Map<string, LastError>();
    this.errors.set(entry.destination, byProject);
    const known = byProject.get(entry.project);
    if (known && known.at > entry.updatedAt) return;
    byProject.set(entry.project, {
      message: entry.error!,
      ...(entry.errorClass === undefined ? {} : { errorClass: entry.errorClass }),
      at: entry.updatedAt,
      eventId: entry.eventId,
      project: entry.project,
    });
    this.log.debug({ destination: entry.destination, eventId: entry.eventId }, "destination error seen");
  }

  /** Drops the uploads older than the window (they are in arrival order). */
  private evict(now: number): void {
    const oldest = now - WINDOW_MS;
    for (const [destination, list] of this.landed) {
      let n = 0;
      while (n < list.length && list[n]!.at < oldest) this.counted.delete(list[n++]!.key);
      if (n === list.length) this.landed.delete(destination);
      else if (n > 0) list.splice(0, n);
    }
  }
}

const round = (n: number) => Math.round(n * 100) / 100;
