/**
 * Keeps one upload alive: `working()` on the message so AckWait does not expire, lease renewal
 * so no other replica takes the key, and the attempt's timeout. A renewal that fails because NATS
 * is away is retried while the lease is still valid; the upload stops (LeaseLostError) only when
 * the lease was taken over or may have expired, because another replica may then be writing a
 * newer version of the key.
 *
 * It also tells the ledger how far a long upload got: `uploading` once the upload lasts
 * SLOW_MS, then its `bytesDone` at most once every PROGRESS_WRITE_MS as the adapter reports
 * progress (what `artifact-bus put` draws its bars from), one write at a time.
 */
import type { JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { DestinationConfig } from "../config.ts";
import type { UploadContext } from "./destination.ts";
import { describeError, TransientError } from "./errors.ts";
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
  private readonly recorder: ProgressRecorder;
  private lastLogged = 0;
  private renewing = false;
  private bytesDone: number | undefined;
  private uploadingRecorded = false;
  private writing = false;
  private lastWrite = 0;
  private written: number | undefined;
  private stopped = false;
  readonly signal: AbortSignal;

  constructor(
    msg: JsMsg,
    lease: KeyLease,
    config: DestinationConfig,
    ac: AbortController,
    log: Logger,
    recorder: ProgressRecorder,
  ) {
    this.signal = ac.signal;
    this.recorder = recorder;
    this.slow = setTimeout(() => {
      const bytes = this.bytesDone;
      this.write(bytes, () => recorder.slow(bytes)).then(() => {
        this.uploadingRecorded = true;
      });
    }, SLOW_MS);
    const every = Math.max(100, Math.floor(config.ackWaitMs / 3));
    // Stop a little before the lease could be taken over: the abort takes a moment to land.
    const margin = Math.min(1000, Math.floor(config.ackWaitMs / 10));
    this.timer = setInterval(() => {
      msg.working();
      if (lease.remainingMs <= margin) {
        ac.abort(new LeaseLostError(`lease on ${lease.key} may have expired: no renewal succeeded in time`));
        return;
      }
      if (this.renewing) return;
      this.renewing = true;
      lease
        .renew()
        .catch((err) => {
          if (err instanceof LeaseLostError) ac.abort(err);
          else
            log.warn(
              { err: describeError(err), remainingMs: Math.round(lease.remainingMs) },
              "lease renewal failed; retrying",
            );
        })
        .finally(() => {
          this.renewing = false;
        });
    }, every);
    this.deadline = setTimeout(
      () => ac.abort(new TransientError(`upload exceeded uploadTimeoutMs (${config.uploadTimeoutMs} ms)`)),
      config.uploadTimeoutMs,
    );
  }

  context(attempt: number, log: Logger): UploadContext {
    return {
      signal: this.signal,
      attempt,
      log,
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

  /** One ledger write at a time; a failed one (NATS away) is skipped: the next report tries again. */
  private async write(bytes: number | undefined, fn: () => Promise<unknown>): Promise<void> {
    if (this.writing || this.stopped) return;
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
    clearTimeout(this.deadline);
    clearTimeout(this.slow);
  }
}
