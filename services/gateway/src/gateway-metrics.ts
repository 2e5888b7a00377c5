/**
 * The gateway's Prometheus metrics: requests by route and status, bytes in, staging times,
 * waiters. Its publisher adds the publish latency (`artifact_bus_publish_seconds`) to the same
 * registry, as any trainer's does.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "artifact_bus_gateway_requests_total",
    help: "HTTP requests answered, by route, method and status",
    labelNames: ["route", "method", "status"],
    registers: [this.registry],
  });
  readonly requestSeconds = new Histogram({
    name: "artifact_bus_gateway_request_seconds",
    help: "Time to answer a request, by route",
    labelNames: ["route"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600],
    registers: [this.registry],
  });
  readonly bytesIn = new Counter({
    name: "artifact_bus_gateway_bytes_in_total",
    help: "Artifact bytes staged from request bodies",
    registers: [this.registry],
  });
  readonly stagingSeconds = new Histogram({
    name: "artifact_bus_gateway_staging_seconds",
    help: "Time to stage an artifact (receive and hash a body, or stage a file by path)",
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    registers: [this.registry],
  });
  readonly inadmissible = new Counter({
    name: "artifact_bus_gateway_inadmissible_events_total",
    help: "Messages that reads skipped because their subject does not vouch for their body",
    registers: [this.registry],
  });
  readonly waiters = new Gauge({
    name: "artifact_bus_gateway_waiters",
    help: "Requests waiting on /wait now",
    registers: [this.registry],
  });
  readonly liveStreams = new Gauge({
    name: "artifact_bus_gateway_live_streams",
    help: "Live event streams (GET /v1/events/live) open now",
    registers: [this.registry],
  });
}
