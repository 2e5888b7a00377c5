/**
 * A live stream whose client goes away while the stream still waits for the ledger watch to
 * start leaves nothing behind: no heartbeat timer keeps ticking for it. The gateway is built in
 * this process with its app plugin (so the route's timers can be seen) on a real nats-server; only
 * what the live route and authentication use is built. Nothing else holds the hub's watch here,
 * so the first stream starts it, and the server is frozen (SIGSTOP) to hold that start. The
 * route's timers are told from the process's others by where they are set (async_hooks): the
 * process has timers of its own (NATS, fastify, vitest) that come and go.
 */
import { createHook } from "node:async_hooks";
import { connect as connectTcp, type Socket } from "node:net";
import { join, sep } from "node:path";
import { appendTokenRecord, LEDGER_BUCKET, Ledger, newToken, parseConfig, silentLogger } from "@artifact-bus/shared";
import { eventually, NatsServer, tempDirs } from "@artifact-bus/testkit";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import Fastify from "fastify";
import { afterAll, beforeAll, expect, it } from "vitest";
import { gatewayApp } from "../src/app.ts";
import { TokenStore } from "../src/auth.ts";
import type { GatewayDeps } from "../src/deps.ts";
import { GatewayMetrics } from "../src/gateway-metrics.ts";
import { LedgerHub } from "../src/ledger-hub.ts";
import { LiveFeed } from "../src/live-feed.ts";
import { fastifyOptions, type GatewayServer } from "../src/server.ts";

const temp = tempDirs();
let nats: NatsServer;
let nc: NatsConnection;
let app: GatewayServer["app"];
let hub: LedgerHub;
let live: LiveFeed;
let metrics: GatewayMetrics;
let token: string;
let port: number;

beforeAll(async () => {
  nats = await NatsServer.start();
  nc = await connect({ servers: nats.url });
  const ledger = new Ledger(await new Kvm(nc).create(LEDGER_BUCKET));
  const tokensFile = join(temp.make("artifact-bus-live-gone-"), "tokens.jsonl");
  const made = newToken({ projects: ["demo"], roles: ["read"] });
  appendTokenRecord(tokensFile, made.record);
  token = made.token;
  const config = parseConfig({ nats: { servers: [nats.url] }, gateway: { tokensFile } });
  hub = new LedgerHub(ledger, nc, silentLogger);
  live = new LiveFeed(hub, silentLogger);
  metrics = new GatewayMetrics();
  // Only these are touched by authentication and GET /v1/events/live (the others at request time).
  const deps = { config: config.gateway, tokens: new TokenStore(tokensFile, silentLogger), hub, live, metrics };
  app = Fastify(fastifyOptions(config, silentLogger));
  await app.register(gatewayApp, { deps: deps as unknown as GatewayDeps });
  await app.listen({ host: "127.0.0.1", port: 0 });
  port = (app.server.address() as { port: number }).port;
});

afterAll(async () => {
  try {
    if (nats?.running) nats.resume();
    await app?.close();
    hub?.close();
    await nc?.close();
  } finally {
    // The server and its store dir go whatever failed above.
    await nats?.dispose();
  }
});

/** Timers the live route set (its heartbeats) and that are still set, by async id. */
const heartbeats = new Set<number>();
const LIVE_ROUTE = `${sep}routes${sep}live.ts`;
const hook = createHook({
  init(id, type) {
    if (type === "Timeout" && new Error().stack?.includes(LIVE_ROUTE)) heartbeats.add(id);
  },
  // A cleared (or fired) timer is destroyed.
  destroy(id) {
    heartbeats.delete(id);
  },
});
hook.enable();
afterAll(() => void hook.disable());

/** GET /v1/events/live on a raw socket; resolves once `until` was received. */
async function openStream(until: string): Promise<{ socket: Socket; received: () => string }> {
  const socket = connectTcp(port, "127.0.0.1");
  socket.on("error", () => {});
  let received = "";
  await new Promise<void>((resolve) => {
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString();
      if (received.includes(until)) resolve();
    });
    socket.write(`GET /v1/events/live HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  });
  expect(received).toMatch(/^HTTP\/1\.1 200/);
  return { socket, received: () => received };
}

const streamsOpen = async () => (await metrics.liveStreams.get()).values[0]?.value;

it("an open stream has its heartbeat timer, and a closed one has none", async () => {
  const { socket } = await openStream("event: ready");
  expect(heartbeats.size).toBe(1);
  socket.destroy();
  await eventually(() => (live.size === 0 ? true : undefined), 10_000, "the stream to leave the live feed");
  expect(heartbeats.size).toBe(0);
});

it("a client gone while its stream waits for the ledger watch leaves no heartbeat timer behind", async () => {
  // Frozen, the server holds the watch's start: the stream's join waits on it.
  await nats.pause();
  const { socket, received } = await openStream("retry: 3000");
  expect(received()).not.toContain("event: ready");
  // The client goes away before the stream heard the ledger.
  socket.destroy();
  await eventually(async () => ((await streamsOpen()) === 0 ? true : undefined), 10_000, "the client to be gone");
  expect(live.size).toBe(1);
  nats.resume();
  // The watch started: the stream's join returned, and the stream left the feed at once.
  await eventually(() => (live.size === 0 ? true : undefined), 10_000, "the stream to leave the live feed");
  expect(heartbeats.size).toBe(0);
});
