/**
 * A trainer's publish latency: a publisher given a registry observes each PubAck in
 * `artifact_bus_publish_seconds`, publishers sharing a registry share the histogram, and a
 * publisher without one measures nothing. Real nats-server; no uploader is needed.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NatsServer } from "@artifact-bus/testkit";
import type { NatsConnection } from "@nats-io/transport-node";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FsBlobStore } from "../src/blob/fs-store.ts";
import { parseConfig } from "../src/config/config.ts";
import { connectNats } from "../src/nats/connect.ts";
import { ensureTopology } from "../src/nats/topology.ts";
import { ArtifactPublisher } from "../src/publisher/publisher.ts";

let server: NatsServer;
let nc: NatsConnection;
let dir: string;

beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connectNats({ servers: [server.url] }, { name: "publisher-metrics-test" });
  const config = parseConfig({ destinations: [{ name: "s3:main" }] });
  await ensureTopology(nc, { stream: config.stream, destinations: config.destinations });
  dir = mkdtempSync(join(tmpdir(), "artifact-bus-publisher-metrics-"));
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const countOf = async (registry: Registry) => {
  const text = await registry.metrics();
  return Number(/^artifact_bus_publish_seconds_count (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
};

describe("publish latency", () => {
  it("is observed per PubAck in the registry a publisher is given, shared by publishers of one registry", async () => {
    const blobStore = new FsBlobStore(join(dir, "staging"));
    const registry = new Registry();
    const [a, b] = await Promise.all([
      ArtifactPublisher.create({ nc, blobStore, registry }),
      ArtifactPublisher.create({ nc, blobStore, registry }),
    ]);
    const unmeasured = await ArtifactPublisher.create({ nc, blobStore });
    expect(await countOf(registry)).toBe(0);
    const path = join(dir, "a.txt");
    writeFileSync(path, "hello");
    // Observed at the PubAck, which `durable` reports (logFile itself returns once staged).
    for (const p of [a, b, b, unmeasured])
      await (await p.logFile({ project: "p", run: "r", name: "a.txt", path })).durable;
    expect(await countOf(registry)).toBe(3);
    const text = await registry.metrics();
    expect(text).toMatch(/^artifact_bus_publish_seconds_sum \d/m);
    expect(text).toMatch(/^artifact_bus_publish_seconds_bucket\{le="\+Inf"\} 3$/m);
  });
});
