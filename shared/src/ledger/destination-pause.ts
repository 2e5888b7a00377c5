/**
 * A destination paused by an operator: the record `pause.<destination token>` in the ledger
 * bucket, JSON `{ paused: true, by, at, reason? }`. While it says paused, every replica of that
 * destination pulls nothing (delivery/pause-gate.ts): its events wait in its consumer, and no
 * attempt is spent. Resuming deletes the record. `artifact-bus pause`/`resume`, the uploaders and
 * status read and write it only through this module.
 *
 * The record lives as long as the ledger's TTL (at least twice the events' max age, see
 * config/retention.ts): a pause older than that ends by itself. Pausing again renews it.
 */
import type { KV } from "@nats-io/kv";
import { PAUSE_KEY_PREFIX } from "../nats/topology-names.ts";

/** A pause as recorded. */
export interface DestinationPause {
  paused: true;
  /** Who paused it: the NATS user of `artifact-bus pause`, or what the gateway says. */
  by: string;
  /** When (ISO 8601). */
  at: string;
  reason?: string;
}

/** Ledger key of a destination's pause record, e.g. `pause.s3_main`. */
export function pauseKey(destinationToken: string): string {
  return `${PAUSE_KEY_PREFIX}.${destinationToken}`;
}

/**
 * The destination's pause, or undefined when it is not paused: no record, a deleted one, or one
 * that does not say `paused: true` (a writer may record a resume as `paused: false`).
 */
export async function readDestinationPause(kv: KV, destinationToken: string): Promise<DestinationPause | undefined> {
  const e = await kv.get(pauseKey(destinationToken));
  if (e?.operation !== "PUT") return undefined;
  return pauseOf(e.string());
}

/** Records the pause (replacing an earlier one, which renews it); returns what it wrote. */
export async function pauseDestination(
  kv: KV,
  destinationToken: string,
  o: { by: string; reason?: string | undefined; at?: Date },
): Promise<DestinationPause> {
  const record: DestinationPause = {
    paused: true,
    by: o.by,
    at: (o.at ?? new Date()).toISOString(),
    ...(o.reason ? { reason: o.reason } : {}),
  };
  await kv.put(pauseKey(destinationToken), JSON.stringify(record));
  return record;
}

/** Ends the pause (deletes the record); returns the pause it ended, if there was one. */
export async function resumeDestination(kv: KV, destinationToken: string): Promise<DestinationPause | undefined> {
  const was = await readDestinationPause(kv, destinationToken);
  await kv.delete(pauseKey(destinationToken));
  return was;
}

function pauseOf(text: string): DestinationPause | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null || (v as { paused?: unknown }).paused !== true) return undefined;
  const r = v as Record<string, unknown>;
  return {
    paused: true,
    by: typeof r.by === "string" ? r.by : "unknown",
    at: typeof r.at === "string" ? r.at : "",
    ...(typeof r.reason === "string" && r.reason ? { reason: r.reason } : {}),
  };
}
