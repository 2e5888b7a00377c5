/**
 * What an uploader's `/readyz` says. Ready means consuming: connected to NATS, every worker
 * started, not shutting down, and no destination's breaker open or half-open. While a breaker is
 * open its destination is failing and nothing is pulled for it (events wait in the stream), so
 * the process reports not ready, naming the destination; a restart would not help, so `/readyz`
 * is no liveness probe (that is `/healthz`).
 */
import type { NatsConnection } from "@nats-io/transport-node";

/** What readiness needs of a worker: its destination's name and its breaker's state changes. */
export interface BreakerSource {
  name: string;
  breaker: { on(event: "open" | "halfOpen" | "close", listener: () => void): void };
}

export class UploaderReadiness {
  private connected = true;
  private stopping = false;
  private readonly tripped = new Set<string>();

  /** Starts watching; call once the connection is up and the workers have started. */
  constructor(nc: Pick<NatsConnection, "status">, workers: readonly BreakerSource[]) {
    for (const w of workers) {
      w.breaker.on("open", () => this.tripped.add(w.name));
      // Half-open, only the probe runs; pulling resumes when it passes and the breaker closes.
      w.breaker.on("halfOpen", () => this.tripped.add(w.name));
      w.breaker.on("close", () => this.tripped.delete(w.name));
    }
    void this.watch(nc);
  }

  private async watch(nc: Pick<NatsConnection, "status">): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "close") this.connected = false;
      else if (s.type === "reconnect") this.connected = true;
    }
    this.connected = false;
  }

  /** From now on not ready: the service is shutting down. */
  markStopping(): void {
    this.stopping = true;
  }

  /** Why the service is not consuming; empty when it is. */
  notReady(): string[] {
    const reasons: string[] = [];
    if (this.stopping) reasons.push("shutting down");
    if (!this.connected) reasons.push("not connected to NATS (reconnecting)");
    for (const name of [...this.tripped].sort()) reasons.push(`breaker open for ${name}: not pulling its events`);
    return reasons;
  }
}
