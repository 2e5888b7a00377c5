/**
 * The error classes adapters raise at their boundary. The runtime maps them:
 * TransientError -> nak(backoff), then DLQ after maxDeliver attempts; PermanentError -> term + DLQ
 * at once; DestinationError -> the breaker opens and the event waits, no attempt counted.
 * Anything else is treated as transient, since an unknown failure is more often the network.
 */

export interface TransientErrorOptions {
  cause?: unknown;
  /** Server-given wait (e.g. Retry-After), which overrides the computed backoff when longer. */
  retryAfterMs?: number;
}

/** A failure that may pass: network, timeout, 5xx, throttling. */
export class TransientError extends Error {
  override name = "TransientError";
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: TransientErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** A failure of this artifact that retrying cannot fix: an invalid name, a missing or corrupt blob. */
export class PermanentError extends Error {
  override name = "PermanentError";
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
  }
}

/**
 * The destination itself is broken until an operator acts: credentials rejected or expired,
 * permission to write revoked, host key changed, bucket or root missing. Not the artifact's
 * fault, so nothing is dead-lettered: the breaker opens and every event waits in the stream
 * until a probe passes again.
 */
export class DestinationError extends Error {
  override name = "DestinationError";
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
  }
}

export type ErrorClass = "transient" | "permanent" | "destination";

export function classify(err: unknown): ErrorClass {
  if (err instanceof PermanentError) return "permanent";
  if (err instanceof DestinationError) return "destination";
  return "transient";
}

/** One line for logs and DLQ entries: the message chain, never request bodies or headers. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur && depth < 4; depth++) {
    if (cur instanceof Error) {
      parts.push(`${cur.name}: ${cur.message}`);
      cur = cur.cause;
    } else {
      parts.push(String(cur));
      break;
    }
  }
  return parts.join(" <- ").slice(0, 2000);
}
