/**
 * Each destination's health as operators see it: its consumer's backlog, the breaker state its
 * live replicas report in their heartbeats, how many replicas are alive, its dead letters, and
 * whether an operator paused it.
 * `GET /v1/destinations` and `artifact-bus status --destinations` both answer with it.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { destinationFromToken } from "../contract/destination-name.ts";
import { dlqSubject } from "../contract/subjects.ts";
import { readDestinationPause } from "../ledger/destination-pause.ts";
import { type BreakerState, readReplicaBeats } from "../ledger/replica-heartbeat.ts";
import type { DestinationDirectory } from "../nats/destinations.ts";
import { consumerName, DLQ_STREAM, EVENTS_STREAM } from "../nats/topology-names.ts";

export interface DestinationHealth {
  /** e.g. `s3:main` */
  name: string;
  filterSubject: string;
  consumer: {
    /** Events not yet delivered. */
    pending: number;
    /** Delivered, not yet acknowledged (in flight or waiting). */
    ackPending: number;
    /** Delivered more than once, not yet acknowledged. */
    redelivered: number;
  };
  /** The worst state a live replica reports; unknown without live replicas. */
  breaker: BreakerState | "unknown";
  replicas: {
    alive: number;
    /** `paused`: whether the replica holds its pulls for the pause (absent from older releases). */
    items: { replicaId: string; breaker: BreakerState; paused?: boolean; alive: boolean; startedAt: string }[];
  };
  /** Letters in its DLQ (replayed ones included). */
  deadLetters: number;
  /**
   * The operator's pause (`artifact-bus pause`): who, when, why; null when not paused. Its
   * replicas stop pulling within a few seconds (each item's `paused` says which did).
   */
  paused: { by: string; at: string; reason?: string } | null;
}

const WORST = ["open", "halfOpen", "closed"] as const;

/** Every destination's health; `kv` is the ledger bucket (it holds the replica heartbeats). */
export async function destinationHealth(
  jsm: JetStreamManager,
  kv: KV,
  directory: DestinationDirectory,
): Promise<DestinationHealth[]> {
  const [list, beats, dlq] = await Promise.all([
    directory.all(),
    readReplicaBeats(kv, jsm),
    jsm.streams.info(DLQ_STREAM, { subjects_filter: dlqSubject("*") }),
  ]);
  const letters = dlq.state.subjects ?? {};
  return Promise.all(
    list.map(async ({ token, filterSubject }) => {
      const name = destinationFromToken(token);
      const [ci, pause] = await Promise.all([
        jsm.consumers.info(EVENTS_STREAM, consumerName(token)),
        readDestinationPause(kv, token),
      ]);
      const replicas = beats.filter((b) => b.destination === name);
      const alive = replicas.filter((r) => r.alive);
      return {
        name,
        filterSubject,
        consumer: { pending: ci.num_pending, ackPending: ci.num_ack_pending, redelivered: ci.num_redelivered },
        breaker: WORST.find((s) => alive.some((r) => r.breaker === s)) ?? "unknown",
        replicas: {
          alive: alive.length,
          items: replicas.map(({ replicaId, breaker, paused, alive, startedAt }) => ({
            replicaId,
            breaker,
            ...(paused === undefined ? {} : { paused }),
            alive,
            startedAt,
          })),
        },
        deadLetters: letters[dlqSubject(token)] ?? 0,
        paused: pause ? { by: pause.by, at: pause.at, ...(pause.reason ? { reason: pause.reason } : {}) } : null,
      };
    }),
  );
}

/**
 * Whether a destination can consume: a live replica, and none reporting an open or half-open
 * breaker. A pause is an operator's choice, not a fault: a paused destination may be healthy.
 */
export function isHealthy(d: DestinationHealth): boolean {
  return d.replicas.alive > 0 && d.breaker === "closed";
}
