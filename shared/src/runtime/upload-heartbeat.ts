/**
 * Keeps one upload alive: `working()` on the message so AckWait does not expire, lease renewal
 * so no other replica takes the key, and the attempt's timeout. A renewal that fails because NATS
 * is away is retried while the lease is still valid; the upload stops (LeaseLostError) only when
 * the lease was taken over or may have expired, because another replica may then be writing a
 * newer version of the key.
 */
import type { JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { DestinationConfig } from "../config.ts";
import type { UploadContext } from "./destination.ts";
import { describeError, TransientError } from "./errors.ts";
import { type KeyLease, LeaseLostError } from "./key-lease.ts";

const SLOW_MS = 500;

export class UploadHeartbeat {
  private readonly timer: NodeJS.Timeout;
  private readonly deadline: NodeJS.Timeout;
  private readonly slow: NodeJS.Timeout;
  private lastLogged = 0;
  private renewing = false;
  readonly signal: AbortSignal;

  /** `onSlow` runs once if the upload is still going after SLOW_MS (the ledger's "uploading"). */
  constructor(
    msg: JsMsg,
    lease: KeyLease,
    config: DestinationConfig,
    ac: AbortController,
    log: Logger,
    onSlow: () => Promise<unknown>,
  ) {
    this.signal = ac.signal;
    this.slow = setTimeout(() => void onSlow().catch(() => undefined), SLOW_MS);
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
        const now = Date.now();
        // Progress is logged at most twice a second: operators (and fault tests) see it move.
        if (bytesDone !== undefined && now - this.lastLogged >= 500) {
          this.lastLogged = now;
          log.debug({ bytesDone }, "upload progress");
        }
      },
    };
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.deadline);
    clearTimeout(this.slow);
  }
}
