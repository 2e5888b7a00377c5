/**
 * Uploader replicas say they are alive, and what their breakers say, in the ledger bucket under
 * `replica.<destination token>.<replica id>`, every few seconds: the gateway's
 * `GET /v1/destinations` reads them. A replica that stops beating (killed) is seen as gone
 * after three intervals; one that stops gracefully deletes its entry.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Logger } from "pino";
import { parseDestinationName } from "../contract/destination-name.ts";
import { LEDGER_BUCKET, REPLICA_KEY_PREFIX } from "../nats/topology-names.ts";

/** How often a replica writes its entry by default. */
export const REPLICA_BEAT_MS = 5_000;

export type BreakerState = "closed" | "open" | "halfOpen";

/** The value of a replica entry. */
export interface ReplicaBeat {
  destination: string;
  replicaId: string;
  breaker: BreakerState;
  /** Whether it holds its pulls for an operator's pause (absent from replicas of older releases). */
  paused?: boolean;
  startedAt: string;
  /** Writes are this far apart; a reader judges liveness by it. */
  intervalMs: number;
}

/** A worker as the heartbeat sees it: its destination, its breaker's state changes, its pause. */
export interface BeatingWorker {
  name: string;
  breaker: { on(event: "open" | "halfOpen" | "close", listener: () => void): void };
  pause?: { readonly paused: boolean; on(listener: () => void): void };
}

/** KV key of a replica entry; the id is made key-safe (a host name may hold dots). */
export function replicaKey(destinationToken: string, replicaId: string): string {
  return `${REPLICA_KEY_PREFIX}.${destinationToken}.${replicaId.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

/** Starts beating for every worker of this replica; `stop()` deletes the entries. */
export function startReplicaHeartbeat(o: {
  kv: KV;
  replicaId: string;
  workers: readonly BeatingWorker[];
  intervalMs?: number;
  log: Logger;
}): { stop(): Promise<void> } {
  const intervalMs = o.intervalMs ?? REPLICA_BEAT_MS;
  const startedAt = new Date().toISOString();
  const states = new Map<string, BreakerState>(o.workers.map((w) => [w.name, "closed"]));
  const keyOf = (name: string) => replicaKey(parseDestinationName(name).token, o.replicaId);
  const pauses = new Map(o.workers.map((w) => [w.name, w.pause]));
  const beat = async (name: string) => {
    const pause = pauses.get(name);
    const value: ReplicaBeat = {
      destination: name,
      replicaId: o.replicaId,
      breaker: states.get(name) ?? "closed",
      ...(pause ? { paused: pause.paused } : {}),
      startedAt,
      intervalMs,
    };
    await o.kv.put(keyOf(name), JSON.stringify(value)).catch((err: Error) => {
      o.log.debug({ destination: name, error: err.message }, "replica heartbeat not written (NATS away?)");
    });
  };
  for (const w of o.workers) {
    for (const state of ["open", "halfOpen", "close"] as const) {
      w.breaker.on(state, () => {
        states.set(w.name, state === "close" ? "closed" : state);
        void beat(w.name); // at once: an operator looking now sees the change now
      });
    }
    w.pause?.on(() => void beat(w.name));
  }
  const all = () => Promise.all(o.workers.map((w) => beat(w.name)));
  void all();
  const timer = setInterval(() => void all(), intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(o.workers.map((w) => o.kv.delete(keyOf(w.name)).catch(() => undefined)));
    },
  };
}

/**
 * Every replica entry in the bucket, with whether it beat within three intervals: the entry's
 * time is the NATS server's, so a replica's own clock does not matter, only the reader's.
 *
 * The keys come from the ledger stream's subject counts (one request), not kv.keys(): that
 * lists through a consumer that ends at the message it is told has nothing pending after it,
 * and with the beats rewritten while it lists (every replica beats every few seconds) it
 * listed keys twice, or missed its end and waited for the consumer's idle heartbeat (up to a
 * minute: GET /v1/destinations hung that long, and held a stopping gateway).
 */
export async function readReplicaBeats(
  kv: KV,
  jsm: JetStreamManager,
  now = Date.now(),
): Promise<(ReplicaBeat & { alive: boolean })[]> {
  const prefix = `$KV.${LEDGER_BUCKET}.`;
  const info = await jsm.streams.info(`KV_${LEDGER_BUCKET}`, {
    subjects_filter: `${prefix}${REPLICA_KEY_PREFIX}.>`,
  });
  const keys = Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
  const out: (ReplicaBeat & { alive: boolean })[] = [];
  for (const key of keys) {
    const e = await kv.get(key);
    if (e?.operation !== "PUT") continue;
    const beat = e.json<ReplicaBeat>();
    out.push({ ...beat, alive: now - e.created.getTime() < 3 * (beat.intervalMs || REPLICA_BEAT_MS) });
  }
  return out;
}
