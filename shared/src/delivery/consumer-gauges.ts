/**
 * Keeps the consumer gauges (`artifact_bus_consumer_pending`, `..._ack_pending`) current: each
 * destination's consumer info is read every CONSUMER_GAUGE_MS, one request per destination per
 * interval whatever the scrape rate, and never during a scrape (a scrape must not wait on NATS).
 * While NATS is away the last counts stay.
 */
import type { Consumer } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { WorkerMetrics } from "./worker-metrics.ts";

/**
 * 15 s, a usual scrape interval. Not shorter: for each info request nats-server 2.9 counts a
 * consumer's pending messages over the stream's subjects, a cost that grows with the stream,
 * once per replica.
 */
export const CONSUMER_GAUGE_MS = 15_000;

/** Starts refreshing; returns how to stop. */
export function startConsumerGauges(
  consumers: readonly { destination: string; consumer: Consumer }[],
  metrics: WorkerMetrics,
  log: Logger,
  intervalMs = CONSUMER_GAUGE_MS,
): () => void {
  let running = false;
  const refresh = async () => {
    if (running) return; // a slow answer (NATS restarting) is not queued behind
    running = true;
    try {
      await Promise.all(
        consumers.map(async ({ destination, consumer }) => {
          try {
            metrics.consumer(destination, await consumer.info());
          } catch (err) {
            log.debug({ destination, error: (err as Error).message }, "consumer info not read (NATS away?)");
          }
        }),
      );
    } finally {
      running = false;
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
