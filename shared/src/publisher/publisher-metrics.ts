/**
 * The publisher's Prometheus metrics, in a registry its user passes (a trainer's own, or the
 * gateway's): publish latency, from the first publish attempt of an event to its PubAck, retries
 * across reconnects included. That is the part of logFile a trainer waits on besides staging.
 */
import { Histogram, type Registry } from "prom-client";

const NAME = "artifact_bus_publish_seconds";

/** The histogram in `registry`; the one already there when another publisher registered it. */
export function publishHistogram(registry: Registry): Histogram {
  const existing = registry.getSingleMetric(NAME);
  if (existing) return existing as Histogram;
  return new Histogram({
    name: NAME,
    help: "From an event's first publish attempt to its PubAck (retries across reconnects included)",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
    registers: [registry],
  });
}
