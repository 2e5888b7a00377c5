/**
 * `/wait`: Composer's close-and-wait over HTTP. A request waits until every (event, destination)
 * pair it covers is final in the ledger, the timeout passes, or its client goes away; it then
 * answers with counts and what is still pending or dead. It listens on the shared ledger hub.
 */
import { destinationFromToken, isOtherMessages, isSettled, ledgerKey } from "@artifact-bus/shared";
import type { LedgerHub, Seen } from "./ledger-hub.ts";
import type { WaitResultBody } from "./schemas.ts";

/** One event at one destination, as a waiter needs it. */
export interface WaitTarget {
  id: string;
  name: string;
  project: string;
  run: string;
  destinationToken: string;
  /** The event's stream sequence: an entry another message wrote under its id is not its. */
  streamSeq: number;
}

/** Waits on the hub; resolves with the summary when all are final, at `timeoutMs`, or when `signal` aborts. */
export async function waitForTargets(
  hub: LedgerHub,
  targets: WaitTarget[],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<WaitResultBody> {
  const byKey = new Map(targets.map((t) => [ledgerKey(t.destinationToken, { ...t, eventId: t.id }), t]));
  const seen = new Map<string, Seen>();
  let finalCount = 0;
  let wake: (() => void) | undefined;
  const isFinal = (s: Seen | undefined) => isSettled(s?.entry);
  const unregister = await hub.register({
    keys: [...byKey.keys()],
    update(key, s) {
      const target = byKey.get(key);
      if (target && isOtherMessages(s?.entry, target.streamSeq)) return;
      const before = isFinal(seen.get(key));
      seen.set(key, s);
      // A replay can take an entry from dead back to pending: counts move both ways.
      finalCount += Number(isFinal(s)) - Number(before);
      if (finalCount === byKey.size) wake?.();
    },
  });
  try {
    if (finalCount < byKey.size && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, timeoutMs);
        signal.addEventListener("abort", done, { once: true });
        wake = done;
        function done() {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          resolve();
        }
      });
    }
  } finally {
    unregister();
  }
  return summarize(byKey, seen);
}

function summarize(byKey: Map<string, WaitTarget>, seen: Map<string, Seen>): WaitResultBody {
  const result: WaitResultBody = {
    done: true,
    counts: { uploaded: 0, superseded: 0, dead: 0, pending: 0 },
    pending: [],
    dead: [],
  };
  for (const [key, t] of byKey) {
    const entry = seen.get(key)?.entry;
    const destination = destinationFromToken(t.destinationToken);
    const state = entry?.state;
    if (state === "uploaded" || state === "superseded") result.counts[state]++;
    else if (state === "dead" && isSettled(entry)) {
      result.counts.dead++;
      result.dead.push({ id: t.id, name: t.name, destination, error: entry?.error ?? "dead" });
    } else {
      result.done = false;
      result.counts.pending++;
      result.pending.push({ id: t.id, name: t.name, destination, state: state ?? "pending" });
    }
  }
  return result;
}
