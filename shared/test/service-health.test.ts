/**
 * An uploader's HTTP endpoints: `/healthz` (live), `/readyz` (connected to NATS and consuming:
 * false while NATS is away or a breaker is open) and `/metrics`, on the configured address.
 */
import { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { eventually, NatsServer } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, parseConfig } from "../src/config/config.ts";
import type { Destination } from "../src/destination/destination.ts";
import { silentLogger } from "../src/log.ts";
import { UploaderReadiness } from "../src/service/uploader-readiness.ts";
import { startUploaderService, type UploaderService } from "../src/service/uploader-service.ts";

describe("config", () => {
  it("listens on 127.0.0.1 unless metricsHost (ARTIFACT_BUS_METRICS_HOST) says otherwise", () => {
    expect(loadConfig({}).metricsHost).toBe("127.0.0.1");
    expect(loadConfig({ ARTIFACT_BUS_METRICS_HOST: "0.0.0.0" }).metricsHost).toBe("0.0.0.0");
  });
});

describe("UploaderReadiness", () => {
  /** A NATS connection whose status events the test sends. */
  function fakeConnection() {
    const events: { type: string }[] = [];
    let wake: (() => void) | undefined;
    return {
      send(type: string) {
        events.push({ type });
        wake?.();
      },
      async *status() {
        for (;;) {
          const next = events.shift();
          if (next) yield next as never;
          else await new Promise<void>((r) => (wake = r));
        }
      },
    };
  }

  it("is not ready while NATS is disconnected, a breaker is open or half-open, or it is stopping", async () => {
    const nc = fakeConnection();
    const breaker = new EventEmitter();
    const readiness = new UploaderReadiness(nc, [{ name: "s3:main", breaker }]);
    expect(readiness.notReady()).toEqual([]);

    nc.send("disconnect");
    await sleep(0);
    expect(readiness.notReady()).toEqual(["not connected to NATS (reconnecting)"]);
    nc.send("reconnect");
    await sleep(0);
    expect(readiness.notReady()).toEqual([]);

    breaker.emit("open");
    expect(readiness.notReady()).toEqual(["breaker open for s3:main: not pulling its events"]);
    breaker.emit("halfOpen");
    expect(readiness.notReady()).toHaveLength(1);
    breaker.emit("close");
    expect(readiness.notReady()).toEqual([]);

    readiness.markStopping();
    expect(readiness.notReady()).toEqual(["shutting down"]);
  });
});

describe("an uploader's endpoints", () => {
  let nats: NatsServer;
  let service: UploaderService;
  let base: string;

  const destination = (name: string): Destination => ({
    name,
    orderKey: (event) => event.name,
    upload: async () => ({ location: "mem://", size: 0 }),
    probe: async () => {},
    close: async () => {},
  });

  beforeAll(async () => {
    nats = await NatsServer.start();
    const config = parseConfig({
      nats: { servers: [nats.url] },
      staging: { store: "nats" },
      destinations: [{ name: "s3:main" }],
      metricsPort: 0,
    });
    service = await startUploaderService(
      { kind: "s3", create: (d) => destination(d.name) },
      { config, log: silentLogger, ensureTopology: true, handleSignals: false },
    );
    base = `http://127.0.0.1:${service.http?.port}`;
  });
  afterAll(async () => {
    await service?.stop();
    await nats?.dispose();
  });

  /** Polls until `/readyz` answers `status` (NATS reconnects on its own schedule). */
  const readyzUntil = (status: number) =>
    eventually(
      async () => {
        const res = await fetch(`${base}/readyz`);
        return res.status === status ? ((await res.json()) as unknown) : undefined;
      },
      20_000,
      `/readyz to answer ${status}`,
    );

  it("serve /healthz, /readyz and /metrics; ready follows the NATS connection", async () => {
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ live: true });
    expect(await readyzUntil(200)).toEqual({ ready: true });
    expect(await (await fetch(`${base}/metrics`)).text()).toContain("artifact_bus_uploads_total");
    expect((await fetch(`${base}/nope`)).status).toBe(404);

    await nats.stop();
    expect(await readyzUntil(503)).toEqual({ ready: false, reasons: ["not connected to NATS (reconnecting)"] });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await nats.restart();
    expect(await readyzUntil(200)).toEqual({ ready: true });
  });
});
