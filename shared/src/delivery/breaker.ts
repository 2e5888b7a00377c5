/**
 * One circuit breaker per destination (opossum). The worker asks `mayPull()` before fetching:
 * while open nothing is pulled, so events wait in the stream and no delivery is burned; when
 * half-open the destination's own probe, not a message, is the trial call.
 */
import type { EventEmitter } from "node:events";
import CircuitBreaker from "opossum";
import type { BreakerConfig } from "../config/config.ts";
import { PermanentError } from "../destination/errors.ts";

type Task = () => Promise<unknown>;
const STATE_EVENTS = ["open", "halfOpen", "close"] as const;

export class DestinationBreaker {
  private readonly breaker: CircuitBreaker<[Task], unknown>;
  private readonly probe: (signal: AbortSignal) => Promise<void>;
  private readonly cfg: BreakerConfig;

  private readonly onProbe: (error: unknown) => void;
  private probing: Promise<boolean> | undefined;
  private checking: Promise<boolean> | undefined;

  /** `onProbe` hears each half-open probe's outcome (undefined error: it passed). */
  constructor(
    cfg: BreakerConfig,
    probe: (signal: AbortSignal) => Promise<void>,
    onProbe: (error: unknown) => void = () => {},
  ) {
    this.onProbe = onProbe;
    this.cfg = cfg;
    this.probe = probe;
    this.breaker = new CircuitBreaker((task: Task) => task(), {
      timeout: false, // uploads have their own timeouts; a slow upload is not a failure
      errorThresholdPercentage: cfg.errorThresholdPercentage,
      volumeThreshold: cfg.volumeThreshold,
      rollingCountTimeout: cfg.rollingWindowMs,
      resetTimeout: cfg.resetTimeoutMs,
      // A permanent error says this artifact was wrong, not that the destination is down.
      errorFilter: (err: unknown) => err instanceof PermanentError,
    });
  }

  // opossum's typings list each event separately; the state events share one listener type.
  private get events(): EventEmitter {
    return this.breaker as unknown as EventEmitter;
  }

  /** Runs an upload through the breaker; rejects with code EOPENBREAKER while open. */
  run<T>(task: () => Promise<T>): Promise<T> {
    return this.breaker.fire(task) as Promise<T>;
  }

  on(event: "open" | "halfOpen" | "close", listener: () => void): void {
    this.events.on(event, listener);
  }

  /** Opens the breaker now, whatever the error rate: the destination itself is broken. */
  trip(): void {
    if (!this.breaker.opened) this.breaker.open();
  }

  /**
   * True when the worker may fetch. While half-open it runs one probe first; the probe's
   * outcome closes or re-opens the breaker.
   */
  mayPull(): Promise<boolean> {
    if (this.breaker.closed) return Promise.resolve(true);
    if (!this.breaker.halfOpen) return Promise.resolve(false);
    // Several pull loops (events, replays) ask at once: one probe answers them all.
    this.probing ??= this.probeOnce().finally(() => {
      this.probing = undefined;
    });
    return this.probing;
  }

  /**
   * Runs the destination's probe now, outside the breaker's state machine (it neither opens nor
   * closes it): whether the destination as a whole works, asked after an upload failed with a
   * destination-class error. Concurrent askers share one probe.
   */
  probePasses(): Promise<boolean> {
    this.checking ??= this.timedProbe((probe) => probe())
      .then(
        () => true,
        () => false,
      )
      .finally(() => {
        this.checking = undefined;
      });
    return this.checking;
  }

  private async timedProbe(run: (probe: () => Promise<void>) => Promise<unknown>): Promise<void> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error("probe timed out")), this.cfg.probeTimeoutMs);
    try {
      await run(() => this.probe(ac.signal));
    } finally {
      clearTimeout(timer);
    }
  }

  private async probeOnce(): Promise<boolean> {
    try {
      await this.timedProbe((probe) => this.run(probe));
      this.onProbe(undefined);
      return true;
    } catch (err) {
      this.onProbe(err);
      return false;
    }
  }

  /** Resolves when the state next changes (or after `maxMs`), so an idle worker sleeps on events. */
  waitForChange(maxMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        for (const e of STATE_EVENTS) this.events.off(e, done);
        resolve();
      };
      const timer = setTimeout(done, maxMs);
      for (const e of STATE_EVENTS) this.events.on(e, done);
    });
  }

  shutdown(): void {
    this.breaker.shutdown();
  }
}

export function isBreakerOpenError(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === "EOPENBREAKER";
}
