/**
 * Keeps one upload alive: `working()` on the message so AckWait does not expire, lease renewal
 * so no other replica takes the key, and the attempt's timeout. A lost lease aborts the upload,
 * because another replica may now be writing a newer version of the key.
 */
import type { JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { DestinationConfig } from "../config.ts";
import type { UploadContext } from "./destination.ts";
import { TransientError } from "./errors.ts";
import type { KeyLease } from "./key-lease.ts";

const SLOW_MS = 500;

export class UploadHeartbeat {
  private readonly timer: NodeJS.Timeout;
  private readonly deadline: NodeJS.Timeout;
  private readonly slow: NodeJS.Timeout;
  private lastLogged = 0;

  /** `onSlow` runs once if the upload is still going after SLOW_MS (the ledger's "uploading"). */
  constructor(
    msg: JsMsg,
    lease: KeyLease,
    config: DestinationConfig,
    ac: AbortController,
    onSlow: () => Promise<unknown>,
  ) {
    this.slow = setTimeout(() => void onSlow().catch(() => undefined), SLOW_MS);
    const every = Math.max(100, Math.floor(config.ackWaitMs / 3));
    this.timer = setInterval(() => {
      msg.working();
      lease.renew().catch((err) => ac.abort(new TransientError(`lease lost: ${(err as Error).message}`)));
    }, every);
    this.deadline = setTimeout(
      () => ac.abort(new TransientError(`upload exceeded uploadTimeoutMs (${config.uploadTimeoutMs} ms)`)),
      config.uploadTimeoutMs,
    );
    this.signal = ac.signal;
  }

  readonly signal: AbortSignal;

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
