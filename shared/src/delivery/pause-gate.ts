/**
 * A destination's pause as its worker sees it: the pause record (ledger/destination-pause.ts),
 * read every `pollMs` (a KV get; uploaders may read the ledger but not watch it), as a gate of
 * its pull loops. Until the first read answers it says no: a replica restarted while its
 * destination is paused pulls nothing. A failed read keeps the last answer.
 */
import type { Logger } from "pino";
import { describeError } from "../destination/errors.ts";
import type { DestinationPause } from "../ledger/destination-pause.ts";
import type { PullGate } from "./pull-loop.ts";

/** How often a worker reads its destination's pause record by default. */
export const PAUSE_POLL_MS = 2_000;

export class PauseGate implements PullGate {
  private readonly read: () => Promise<DestinationPause | undefined>;
  private readonly pollMs: number;
  private readonly log: Logger;
  private current: DestinationPause | undefined;
  private known = false;
  private timer: NodeJS.Timeout | undefined;
  private reading = false;
  private warnedAt = 0;
  private readonly listeners = new Set<() => void>();

  constructor(o: { read: () => Promise<DestinationPause | undefined>; pollMs?: number; log: Logger }) {
    this.read = o.read;
    this.pollMs = o.pollMs ?? PAUSE_POLL_MS;
    this.log = o.log;
  }

  /** The pause in force, as last read. */
  get pause(): DestinationPause | undefined {
    return this.current;
  }

  get paused(): boolean {
    return this.current !== undefined;
  }

  start(): void {
    if (this.timer) return;
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Hears every change: paused, resumed, or a pause's record replaced (a new reason). */
  on(listener: () => void): void {
    this.listeners.add(listener);
  }

  mayPull(): Promise<boolean> {
    return Promise.resolve(this.known && this.current === undefined);
  }

  waitForChange(maxMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(done);
        resolve();
      };
      const timer = setTimeout(done, maxMs);
      this.listeners.add(done);
    });
  }

  private async poll(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      const next = await this.read();
      const changed = !this.known || JSON.stringify(next) !== JSON.stringify(this.current);
      this.current = next;
      this.known = true;
      if (changed) for (const l of [...this.listeners]) l();
    } catch (err) {
      // NATS away: the fetches fail too. One line per minute is enough to see it.
      if (Date.now() - this.warnedAt > 60_000) {
        this.warnedAt = Date.now();
        this.log.warn({ err: describeError(err) }, "pause record not read; keeping the last answer");
      }
    } finally {
      this.reading = false;
    }
  }
}
