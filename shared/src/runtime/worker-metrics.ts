/** Prometheus metrics of the uploader runtime, one registry per process. */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

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
  readonly duration = new Histogram({
    name: "artifact_bus_upload_seconds",
    help: "Upload duration",
    labelNames: ["destination"],
    buckets: [0.05, 0.25, 1, 5, 30, 120, 600],
    registers: [this.registry],
  });

  uploaded(destination: string, size: number, ms: number): void {
    this.uploads.inc({ destination });
    this.bytes.inc({ destination }, size);
    this.duration.observe({ destination }, ms / 1000);
  }
  failed(destination: string, cls: string): void {
    this.failures.inc({ destination, class: cls });
  }
  superseded(destination: string): void {
    this.supersededTotal.inc({ destination });
  }
  deadLettered(destination: string): void {
    this.deadTotal.inc({ destination });
  }
}
