/**
 * Prometheus metrics of the uploader runtime, one registry per process. Every series of a
 * destination exists from its start (at zero), so rates and alerts see it before its first
 * upload; the names are documented in the README and queried by deploy/grafana.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ErrorClass } from "../destination/errors.ts";

const ERROR_CLASSES: readonly ErrorClass[] = ["transient", "permanent", "destination"];

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly uploads = new Counter({
    name: "artifact_bus_uploads_total",
    help: "Artifacts uploaded",
    labelNames: ["destination"],
    registers: [this.registry],
  });
  readonly bytes = new Counter({
    name: "artifact_bus_uploaded_bytes_total",
    help: "Bytes uploaded",
    labelNames: ["destination"],
    registers: [this.registry],
  });
  readonly failures = new Counter({
    name: "artifact_bus_upload_failures_total",
    help: "Failed upload attempts",
    labelNames: ["destination", "class"],
    registers: [this.registry],
  });
  readonly supersededTotal = new Counter({
    name: "artifact_bus_superseded_total",
    help: "Events skipped because a newer one exists",
    labelNames: ["destination"],
    registers: [this.registry],
  });
  readonly deadTotal = new Counter({
    name: "artifact_bus_dead_letters_total",
    help: "Events sent to the DLQ",
    labelNames: ["destination"],
    registers: [this.registry],
  });
  readonly breakerState = new Gauge({
    name: "artifact_bus_breaker_open",
    help: "1 while the destination's breaker is open",
    labelNames: ["destination"],
    registers: [this.registry],
  });
  readonly pausedState = new Gauge({
    name: "artifact_bus_destination_paused",
    help: "1 while an operator's pause of the destination holds this replica's pulls",
    labelNames: ["destination"],
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: "artifact_bus_upload_seconds",
    help: "Upload duration",
    labelNames: ["destination"],
    buckets: [0.05, 0.25, 1, 5, 30, 120, 600],
    registers: [this.registry],
  });
  readonly loggedToUploadedSeconds = new Histogram({
    name: "artifact_bus_logged_to_uploaded_seconds",
    help: "From an event's arrival in the stream (its PubAck) to its ledger entry 'uploaded', by this replica",
    labelNames: ["destination"],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200],
    registers: [this.registry],
  });
  readonly consumerPending = new Gauge({
    name: "artifact_bus_consumer_pending",
    help: "Events in the stream the destination's consumer has not delivered yet (its backlog)",
    labelNames: ["destination"],
    registers: [this.registry],
  });
  readonly consumerAckPending = new Gauge({
    name: "artifact_bus_consumer_ack_pending",
    help: "Events delivered to the destination's replicas and not yet acknowledged (in flight or waiting)",
    labelNames: ["destination"],
    registers: [this.registry],
  });

  /** Creates every series of `destination` at zero. */
  register(destination: string): void {
    for (const c of [this.uploads, this.bytes, this.supersededTotal, this.deadTotal]) c.inc({ destination }, 0);
    for (const cls of ERROR_CLASSES) this.failures.inc({ destination, class: cls }, 0);
    this.breakerState.set({ destination }, 0);
    this.pausedState.set({ destination }, 0);
    this.duration.zero({ destination });
    this.loggedToUploadedSeconds.zero({ destination });
  }

  uploaded(destination: string, size: number, ms: number): void {
    this.uploads.inc({ destination });
    this.bytes.inc({ destination }, size);
    this.duration.observe({ destination }, ms / 1000);
  }
  /** An upload recorded now, of an event the stream took at `loggedAt`. */
  landed(destination: string, loggedAt: Date): void {
    this.loggedToUploadedSeconds.observe({ destination }, Math.max(0, Date.now() - loggedAt.getTime()) / 1000);
  }
  failed(destination: string, cls: ErrorClass): void {
    this.failures.inc({ destination, class: cls });
  }
  superseded(destination: string): void {
    this.supersededTotal.inc({ destination });
  }
  deadLettered(destination: string): void {
    this.deadTotal.inc({ destination });
  }
  /** The consumer's counts as the server reported them. */
  consumer(destination: string, info: { num_pending: number; num_ack_pending: number }): void {
    this.consumerPending.set({ destination }, info.num_pending);
    this.consumerAckPending.set({ destination }, info.num_ack_pending);
  }
}
