/**
 * The HTTP side of a service process: `/metrics` (Prometheus), `/healthz` (live: the process
 * answers) and `/readyz` (ready: what the service reports, e.g. connected to NATS and consuming).
 * It listens on 127.0.0.1 unless configured otherwise (`metricsHost`): a container needs 0.0.0.0
 * for a scraper outside it, and a host should not publish its metrics by default.
 */
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

export interface ServiceHttpOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  metrics: Registry;
  /** Why the service is not ready; empty when it is. */
  notReady(): string[];
}

export interface ServiceHttp {
  /** The port it listens on. */
  readonly port: number;
  close(): Promise<void>;
}

/** Starts listening; rejects when the address cannot be bound, so a taken port stops the start. */
export async function serveServiceHttp(o: ServiceHttpOptions): Promise<ServiceHttp> {
  const server: Server = createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://service").pathname;
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(`${JSON.stringify(body)}\n`);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return json(405, { error: "GET only" });
    if (path === "/metrics") {
      res.setHeader("content-type", o.metrics.contentType);
      return res.end(await o.metrics.metrics());
    }
    if (path === "/healthz") return json(200, { live: true });
    if (path === "/readyz") {
      const reasons = o.notReady();
      return json(reasons.length ? 503 : 200, reasons.length ? { ready: false, reasons } : { ready: true });
    }
    return json(404, { error: "not found", paths: ["/metrics", "/healthz", "/readyz"] });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
