/**
 * Waiting for what a publisher logged, as `flush` does: first until every artifact is durable
 * (its event published) or failed, then until each published one is terminal at every
 * destination that took it.
 */

import type { LogFileHandle } from "./logged-artifact.ts";
import { LogFailedError } from "./publish-errors.ts";
import { parseDestinationName } from "./runtime/destination-name.ts";
import type { Ledger } from "./runtime/ledger.ts";
import { FlushTimeoutError, type WaitOptions, waitForTerminal } from "./runtime/ledger-waiter.ts";

/**
 * Resolves when every handle's artifact is terminal everywhere; rejects with FlushTimeoutError
 * after `timeoutMs`, or at the end with LogFailedError naming the artifacts that never became
 * durable.
 */
export async function flushLogged(
  ledger: Ledger,
  handles: LogFileHandle[],
  timeoutMs: number,
  options: WaitOptions = {},
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
  await waitForTerminal(ledger, entries, Math.max(0, deadline - Date.now()), options);
  const failures = handles.flatMap((h, i) => {
    const o = outcomes[i];
    return o && "error" in o ? [{ id: h.id, name: h.name, error: o.error }] : [];
  });
  if (failures.length > 0) throw new LogFailedError(failures);
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
