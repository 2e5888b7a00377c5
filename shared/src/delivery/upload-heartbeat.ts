/**
 * Keeps one upload alive: `working()` on the message so AckWait does not expire, lease renewal
 * so no other replica takes the key, and the attempt's timeout. A renewal that fails because NATS
 * is away is retried while the lease is still valid; the upload stops (LeaseLostError) when the
 * lease was taken over, or a margin before it could expire (an abort armed at validUntil - margin,
 * re-armed by each renewal), because another replica may then be writing a newer version of the
 * key. The adapter's beforeVisible() confirms the lease right before the upload becomes visible.
 *
 * It also tells the ledger how far a long upload got: `uploading` once the upload lasts
 * SLOW_MS, then its `bytesDone` at most once every PROGRESS_WRITE_MS as the adapter reports
 * progress (what `artifact-bus put` draws its bars from), one write at a time.
 */
import type { Logger } from "pino";
import type { DestinationConfig } from "../config/config.ts";
import type { UploadContext, UploadResume } from "../destination/destination.ts";
import { describeError, TransientError } from "../destination/errors.ts";
import { type KeyLease, LeaseLostError } from "./key-lease.ts";

const SLOW_MS = 500;
/** Progress reaches the ledger at most this often per upload: two KV round trips each. */
export const PROGRESS_WRITE_MS = 1_000;

/** Where the heartbeat records an upload's state. */
export interface ProgressRecorder {
  /** Records `uploading` (with the bytes done so far, if known): the upload lasts. */
  slow(bytesDone: number | undefined): Promise<unknown>;
  /** Records the bytes done of the `uploading` entry `slow` wrote. */
  progress(bytesDone: number): Promise<unknown>;
}

export class UploadHeartbeat {
  private readonly timer: NodeJS.Timeout;
  private readonly deadline: NodeJS.Timeout;
  private readonly slow: NodeJS.Timeout;
  /** Fires `margin` before the lease could be taken over; re-armed by each successful renewal. */
  private expiry: NodeJS.Timeout | undefined;
  private readonly recorder: ProgressRecorder;
  private readonly lease: KeyLease;
  private readonly ac: AbortController;
  /** How long before its lease could expire a holder stops: an abort takes a moment to land. */
  readonly marginMs: number;
  private lastLogged = 0;
  private renewal: Promise<void> | undefined;
  private bytesDone: number | undefined;
  private uploadingRecorded = false;
  private writing = false;
  private lastWrite = 0;
  private written: number | undefined;
  private stopped = false;
  private ended = false;
  readonly signal: AbortSignal;

  /** `keepAlive` tells JetStream the delivery is still being worked on (`msg.working()`). */
  constructor(
    keepAlive: () => void,
    lease: KeyLease,
    config: DestinationConfig,
    ac: AbortController,
    log: Logger,
    recorder: ProgressRecorder,
  ) {
    this.signal = ac.signal;
    this.recorder = recorder;
    this.lease = lease;
    this.ac = ac;
    this.slow = setTimeout(() => {
      const bytes = this.bytesDone;
      this.write(bytes, () => recorder.slow(bytes)).then(() => {
        this.uploadingRecorded = true;
      });
    }, SLOW_MS);
    const every = Math.max(100, Math.floor(config.ackWaitMs / 3));
    this.marginMs = Math.min(1000, Math.floor(config.ackWaitMs / 10));
    // A timer of its own, not a check on the renewal ticks: those are ackWait/3 apart, so a check
    // there stopped a holder cut off from NATS only once its lease had run out, not a margin before.
    this.arm();
    this.timer = setInterval(() => {
      keepAlive();
      if (this.renewal) return;
      this.renew().catch((err) => {
        if (!(err instanceof LeaseLostError))
          log.warn(
            { err: describeError(err), remainingMs: Math.round(lease.remainingMs) },
            "lease renewal failed; retrying",
          );
      });
    }, every);
    this.deadline = setTimeout(
      () => ac.abort(new TransientError(`upload exceeded uploadTimeoutMs (${config.uploadTimeoutMs} ms)`)),
      config.uploadTimeoutMs,
    );
  }

  /** (Re-)arms the abort at `validUntil - margin` of the lease as it stands now. */
  private arm(): void {
    if (this.stopped) return;
    clearTimeout(this.expiry);
    this.expiry = setTimeout(
      () => this.lose(`lease on ${this.lease.key} may expire: no renewal succeeded in time`),
      Math.max(0, this.lease.remainingMs - this.marginMs),
    );
  }

  /** Stops the upload: another replica may take the key over (or has). */
  lose(why: string | LeaseLostError): LeaseLostError {
    const err = typeof why === "string" ? new LeaseLostError(why) : why;
    if (!this.ac.signal.aborted) this.ac.abort(err);
    return err;
  }

  /** One renewal at a time, shared by the ticks and beforeVisible; a lost lease aborts the upload. */
  private renew(): Promise<void> {
    this.renewal ??= this.lease
      .renew()
      .then(
        () => this.arm(),
        (err: unknown) => {
          if (err instanceof LeaseLostError) this.lose(err);
          throw err;
        },
      )
      .finally(() => {
        this.renewal = undefined;
      });
    return this.renewal;
  }

  /**
   * Resolves when the lease is sure to stay this holder's for at least the margin, so the step
   * that makes the upload visible may start; otherwise aborts the upload and throws
   * LeaseLostError (or the abort's reason). A lease past half its period is renewed first, so a
   * visible step (a completion of many parts) has most of a lease to finish in.
   */
  async beforeVisible(): Promise<void> {
    if (this.signal.aborted) throw this.signal.reason;
    if (this.lease.remainingMs < this.lease.periodMs / 2) {
      // NATS away: the renewal may hang; the abort at validUntil - margin ends the wait.
      await Promise.race([this.renew().catch(() => undefined), aborted(this.signal)]);
    }
    if (this.signal.aborted) throw this.signal.reason;
    if (this.lease.remainingMs < this.marginMs) {
      throw this.lose(`lease on ${this.lease.key} cannot be confirmed: the upload is not made visible`);
    }
  }

  context(attempt: number, log: Logger, resume?: UploadResume): UploadContext {
    return {
      signal: this.signal,
      attempt,
      log,
      ...(resume ? { resume } : {}),
      beforeVisible: () => this.beforeVisible(),
      heartbeat: (bytesDone?: number) => {
        if (bytesDone === undefined) return;
        this.bytesDone = bytesDone;
        const now = Date.now();
        // Progress is logged at most twice a second: operators (and fault tests) see it move.
        if (now - this.lastLogged >= 500) {
          this.lastLogged = now;
          log.debug({ bytesDone }, "upload progress");
        }
        if (this.uploadingRecorded && now - this.lastWrite >= PROGRESS_WRITE_MS && bytesDone !== this.written) {
          void this.write(bytesDone, () => this.recorder.progress(bytesDone));
        }
      },
    };
  }

  /**
   * The upload returned (landed or not): from now on the heartbeat only keeps the message and the
   * lease alive until the outcome is settled. A progress or `uploading` write after that could only
   * race the outcome's own record, and say less than it.
   */
  uploadEnded(): void {
    this.ended = true;
    clearTimeout(this.slow);
  }

  /** One ledger write at a time; a failed one (NATS away) is skipped: the next report tries again. */
  private async write(bytes: number | undefined, fn: () => Promise<unknown>): Promise<void> {
    if (this.writing || this.stopped || this.ended) return;
    this.writing = true;
    this.lastWrite = Date.now();
    try {
      await fn();
      this.written = bytes;
    } catch {
      // Progress is advisory; the outcome is recorded by the worker whatever happens here.
    } finally {
      this.writing = false;
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.expiry);
    clearTimeout(this.deadline);
    clearTimeout(this.slow);
  }
}

/** Resolves once `signal` aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}
