/**
 * Waiting for what a publisher logged, as `flush` does: first until every artifact is durable
 * (its event published) or failed, then until each published one is terminal at every
 * destination that took it.
 */

import { destinationFromToken, parseDestinationName } from "../contract/destination-name.ts";
import type { LedgerEntry } from "../contract/ledger-entry.ts";
import type { Ledger } from "../ledger/ledger.ts";
import { type AwaitedEntry, FlushTimeoutError, type WaitOptions, waitForTerminal } from "../ledger/ledger-waiter.ts";
import type { LogFileHandle } from "./logged-artifact.ts";
import { type DeadArtifact, DeadArtifactsError, LogFailedError } from "./publish-errors.ts";

export interface FlushLoggedOptions extends WaitOptions {
  /**
   * Reject with DeadArtifactsError (or LogFailedError naming them too) when an artifact ended
   * `dead` at some destination (default true). `false` only waits until everything is terminal.
   */
  failOnDead?: boolean;
}

/**
 * Resolves when every handle's artifact is terminal everywhere; rejects with FlushTimeoutError
 * after `timeoutMs`, or at the end with LogFailedError naming the artifacts that never became
 * durable, or with DeadArtifactsError naming those that ended dead (unless `failOnDead: false`).
 */
export async function flushLogged(
  ledger: Ledger,
  handles: LogFileHandle[],
  timeoutMs: number,
  { failOnDead = true, ...options }: FlushLoggedOptions = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const outcomes = await settledWithin(
    handles.map((h) => h.durable),
    timeoutMs,
  );
  const unpublished = handles.filter((_, i) => outcomes[i] === undefined);
  if (unpublished.length > 0) {
    const pending = unpublished.flatMap((h) =>
      h.destinations.map((destination) => ({ destination, eventId: h.id, name: h.name, state: "unknown" as const })),
    );
    throw new FlushTimeoutError(pending, timeoutMs);
  }
  const entries = outcomes.flatMap((o) =>
    o && "value" in o
      ? o.value.destinations.map((d) => ({
          destinationToken: parseDestinationName(d).token,
          project: o.value.project,
          run: o.value.run,
          eventId: o.value.id,
          name: o.value.name,
          streamSeq: o.value.streamSeq,
        }))
      : [],
  );
  // The waiter tells each entry it sees; an awaited one's last is its terminal state.
  const last = new Map<string, { awaited: AwaitedEntry; entry: LedgerEntry }>();
  const onEntry = (awaited: AwaitedEntry, entry: LedgerEntry) => {
    last.set(`${awaited.destinationToken}/${awaited.eventId}`, { awaited, entry });
    options.onEntry?.(awaited, entry);
  };
  await waitForTerminal(ledger, entries, Math.max(0, deadline - Date.now()), { ...options, onEntry });
  const dead: DeadArtifact[] = failOnDead
    ? [...last.values()]
        .filter(({ entry }) => entry.state === "dead")
        .map(({ awaited, entry }) => ({
          id: awaited.eventId,
          name: awaited.name,
          destination: destinationFromToken(awaited.destinationToken),
          error: entry.error ?? "dead (no reason recorded)",
        }))
    : [];
  const failures = handles.flatMap((h, i) => {
    const o = outcomes[i];
    return o && "error" in o ? [{ id: h.id, name: h.name, error: o.error }] : [];
  });
  if (failures.length > 0) throw new LogFailedError(failures, dead);
  if (dead.length > 0) throw new DeadArtifactsError(dead);
}

type Outcome<T> = { value: T } | { error: Error };

/** Each promise's outcome, or undefined for those still pending after `timeoutMs`. */
async function settledWithin<T>(promises: Promise<T>[], timeoutMs: number): Promise<(Outcome<T> | undefined)[]> {
  const outcomes: (Outcome<T> | undefined)[] = promises.map(() => undefined);
  const all = Promise.all(
    promises.map((p, i) =>
      p.then(
        (value) => {
          outcomes[i] = { value };
        },
        (error: Error) => {
          outcomes[i] = { error };
        },
      ),
    ),
  );
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([all, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  clearTimeout(timer);
  return outcomes;
}
