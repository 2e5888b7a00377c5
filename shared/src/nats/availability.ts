/**
 * Whether a NATS error means "not now" (a leader being elected, a node away, a frozen peer) or is
 * the server's last word, and how a step waits the first kind out. Staging, the uploader's
 * start-up and its reads of staged bytes all decide by this one rule.
 */
import { JetStreamApiError, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import {
  ConnectionError,
  type NatsConnection,
  NoRespondersError,
  PermissionViolationError,
  RequestError,
  TimeoutError,
} from "@nats-io/transport-node";

/** Whether `err` says JetStream cannot answer now but may soon: retry it, do not give up on it. */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof PermissionViolationError || /permissions? violation|authorization/i.test(String(err))) {
    return false;
  }
  // 503 is "JetStream system temporarily unavailable" and its kin (no leader, no quorum yet);
  // any other API error (a limit, a bad request) is the server's last word.
  if (err instanceof JetStreamApiError) return err.status === 503;
  // A timed-out request may have reached the server: callers only repeat steps that are safe to
  // repeat. "No responders" (which the JetStream client reports as JetStreamNotEnabled) is a
  // stream whose leader is not reachable yet. A closed connection (ClosedConnectionError,
  // DrainingConnectionError) never comes back: not retried.
  return (
    err instanceof TimeoutError ||
    err instanceof NoRespondersError ||
    err instanceof RequestError ||
    (err instanceof ConnectionError && !/closed|draining/i.test(err.message)) ||
    (err instanceof Error && err.name === "JetStreamNotEnabled")
  );
}

/** Options of {@link untilAvailable}. */
export interface UntilAvailableOptions {
  /** How long to keep trying; then the last error is thrown. */
  timeoutMs: number;
  /** Told of each wait (the error, and how long the step has been waited for). */
  onWait?(err: unknown, waitedMs: number): void;
  /** Narrows what is waited out: an unavailable error this returns false for is thrown at once. */
  retryIf?(err: unknown): boolean;
}

/**
 * Runs `step` until it succeeds, waiting out errors that {@link isUnavailable} calls "not now"
 * (100 ms, doubling to 2 s) until `timeoutMs`; any other error is thrown at once. `step` must be
 * safe to repeat.
 */
export async function untilAvailable<T>(step: () => Promise<T>, o: UntilAvailableOptions): Promise<T> {
  const started = Date.now();
  for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
    try {
      return await step();
    } catch (err) {
      const waited = Date.now() - started;
      if (!isUnavailable(err) || o.retryIf?.(err) === false || waited + wait > o.timeoutMs) throw err;
      o.onWait?.(err, waited);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/**
 * `jetstreamManager(nc)` (which asks the server for its account info), waiting up to `timeoutMs`
 * while a cluster cannot answer yet (a leader being elected, the node away): a process started
 * then waits, as its publishes would, instead of exiting. A server without JetStream (no
 * responders) fails at once, naming the problem.
 */
export function jetStreamManagerWhenAvailable(
  nc: NatsConnection,
  timeoutMs: number,
  onWait?: UntilAvailableOptions["onWait"],
): Promise<JetStreamManager> {
  return untilAvailable(() => jetstreamManager(nc), {
    timeoutMs,
    retryIf: (err) =>
      !(err instanceof NoRespondersError) && !(err instanceof Error && err.name === "JetStreamNotEnabled"),
    ...(onWait ? { onWait } : {}),
  });
}
