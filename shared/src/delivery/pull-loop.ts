/**
 * Pulls a durable consumer with bounded concurrency: it fetches only as many messages as it
 * has free slots (a fetched message waiting in a buffer would burn its ack wait), batching
 * fetches while slots free up one by one (LINGER_MS), stops pulling while a gate says no (the
 * breaker is open, an operator paused the destination), and on stop lets in-flight work finish
 * before aborting it.
 */
import type { Consumer, ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { describeError } from "../destination/errors.ts";

/** The reason an in-flight handler's signal is aborted when its process shuts down. */
export class ShutdownAbort extends Error {
  override name = "ShutdownAbort";
}

/**
 * What may hold a pull loop back, e.g. the breaker (delivery/breaker.ts) or an operator's pause
 * (delivery/pause-gate.ts). Whoever owns a gate calls `interrupt()` on its loops when it closes,
 * so a fetch under way ends early.
 */
export interface PullGate {
  /** Whether the loop may fetch now (it may do work to find out, e.g. a half-open breaker's probe). */
  mayPull(): Promise<boolean>;
  /** Resolves when the gate's state next changes (or after `maxMs`). */
  waitForChange(maxMs: number): Promise<void>;
}

export interface PullLoopOptions {
  consumer: Consumer;
  concurrency: number;
  /**
   * Asked in order before each fetch; the first that says no is waited on, and the ones after it
   * are not asked (a paused destination's breaker does not probe).
   */
  gates: readonly PullGate[];
  log: Logger;
  /** Handles one delivery; must settle the message itself. */
  handle(msg: JsMsg, ac: AbortController): Promise<void>;
  /** Settles a message whose handler threw, e.g. nak with a delay. */
  onHandlerError(msg: JsMsg, err: unknown): void;
}

/**
 * How long a pull waits for more free slots while others are busy. One fetch per freed slot
 * (a subscription and a pull request each) cost about a tenth of the uploader's CPU per 4 KiB
 * artifact; a short linger lets one fetch fill several slots. A long upload delays the next
 * fetch by this much at most.
 */
const LINGER_MS = 10;

export class PullLoop {
  private readonly options: PullLoopOptions;
  private readonly inflight = new Map<number, AbortController>();
  private readonly slotWaiters = new Set<() => void>();
  private stopping = false;
  private batch: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private readonly batchTarget: number;
  private interrupts = 0;

  constructor(options: PullLoopOptions) {
    this.options = options;
    this.batchTarget = Math.ceil(options.concurrency / 2);
  }

  start(): void {
    this.loop ??= this.run().catch((err) => this.options.log.error({ err: describeError(err) }, "pull loop crashed"));
  }

  /** Ends the current fetch early, e.g. when the breaker opens or the destination is paused. */
  interrupt(): void {
    this.interrupts++;
    this.batch?.stop();
  }

  /** Stops pulling, lets in-flight work finish for `graceMs`, then aborts it with ShutdownAbort. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.batch?.stop();
    this.notifySlotFreed();
    const deadline = Date.now() + graceMs;
    while (this.inflight.size > 0 && Date.now() < deadline) await this.waitForSlot(deadline - Date.now());
    for (const ac of this.inflight.values()) ac.abort(new ShutdownAbort("shutting down"));
    while (this.inflight.size > 0) await this.waitForSlot(1000);
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (this.options.concurrency - this.inflight.size <= 0) {
        await this.waitForSlot(5000);
        continue;
      }
      await this.linger();
      // Counted before the gates are asked: a gate that closes while they are being asked (its
      // owner interrupts) stops the fetch that follows.
      const interrupts = this.interrupts;
      // After the linger: a gate may have closed meanwhile (the breaker opened, an operator
      // paused the destination), and nothing is pulled then.
      const closed = await this.closedGate();
      if (closed) {
        await closed.waitForChange(1000);
        continue;
      }
      const free = this.options.concurrency - this.inflight.size;
      try {
        this.batch = await this.options.consumer.fetch({ max_messages: free, expires: 2000 });
        // An interrupt while the fetch was being set up had no batch to stop yet.
        if (this.interrupts !== interrupts) this.batch.stop();
        for await (const msg of this.batch) {
          if (this.stopping) msg.nak();
          else this.track(msg);
        }
      } catch (err) {
        if (this.stopping) break;
        this.options.log.warn({ err: describeError(err) }, "fetch failed; retrying");
        await new Promise((r) => setTimeout(r, 500));
      } finally {
        this.batch = undefined;
      }
    }
  }

  /** The first gate that says no, if any. */
  private async closedGate(): Promise<PullGate | undefined> {
    for (const gate of this.options.gates) if (!(await gate.mayPull())) return gate;
    return undefined;
  }

  /** With work in flight and few slots free, waits up to LINGER_MS for more to free up. */
  private async linger(): Promise<void> {
    const deadline = Date.now() + LINGER_MS;
    while (
      this.options.concurrency - this.inflight.size < this.batchTarget &&
      this.inflight.size > 0 &&
      !this.stopping &&
      Date.now() < deadline
    ) {
      await this.waitForSlot(deadline - Date.now());
    }
  }

  private track(msg: JsMsg): void {
    const seq = msg.info.streamSequence;
    const ac = new AbortController();
    this.inflight.set(seq, ac);
    this.options
      .handle(msg, ac)
      .catch((err) => this.options.onHandlerError(msg, err))
      .finally(() => {
        this.inflight.delete(seq);
        this.notifySlotFreed();
      });
  }

  /** Resolves when an in-flight message finishes (or after `maxMs`). */
  private waitForSlot(maxMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.slotWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, maxMs));
      this.slotWaiters.add(done);
    });
  }

  private notifySlotFreed(): void {
    for (const w of [...this.slotWaiters]) w();
  }
}
