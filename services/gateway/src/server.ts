/**
 * The gateway process around the app: config, NATS, blob store, TLS, listening, the sweep of
 * abandoned stream temp files, graceful stop. main.ts adds signals; tests call startGateway.
 */
import { readFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import {
  ArtifactPublisher,
  type Config,
  checkLedgerFormat,
  connectNats,
  DestinationDirectory,
  ensureTopology,
  FsBlobStore,
  LEDGER_BUCKET,
  Ledger,
  type Logger,
  openBlobStores,
} from "@artifact-bus/shared";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from "fastify";
import { gatewayApp } from "./app.ts";
import { TokenStore } from "./auth.ts";
import type { GatewayDeps } from "./deps.ts";
import { DestinationActivity } from "./destination-activity.ts";
import { EventIndex } from "./event-index.ts";
import { GatewayMetrics } from "./gateway-metrics.ts";
import { LedgerHub } from "./ledger-hub.ts";
import { LiveFeed } from "./live-feed.ts";
import { clientErrorAnswer, sendProblem } from "./problems.ts";
import { ReadBack } from "./read-back.ts";

/** A running gateway. */
export interface GatewayServer {
  /** e.g. `http://127.0.0.1:8080` */
  readonly url: string;
  readonly app: FastifyInstance<any, any, any, any>;
  /** Reads the tokens file again (what SIGHUP does). */
  reloadTokens(): void;
  /** Stops taking requests, lets running ones finish within shutdownGraceMs, disconnects. */
  stop(): Promise<void>;
}

/** Fastify options from the gateway config: timeouts, TLS, proxy trust, logging. */
export function fastifyOptions(config: Config, log: Logger) {
  const g = config.gateway;
  // Node enforces headersTimeout (and requestTimeout) only when it checks its connections, every
  // 30 s by default: a 5 s headers timeout cut a trickling client after up to 35 s. Checking at a
  // quarter of the timeout cuts it within 1.25 times that.
  const connectionsCheckingInterval = Math.min(30_000, Math.max(100, Math.floor(g.headersTimeoutMs / 4)));
  const https =
    g.tlsCertFile && g.tlsKeyFile
      ? { cert: readFileSync(g.tlsCertFile), key: readFileSync(g.tlsKeyFile), connectionsCheckingInterval }
      : null;
  return {
    loggerInstance: log,
    // One line per refused or failed request is ours (problems.ts); per-request lines would cost
    // more than a small artifact's whole handling.
    logController: new LogController({ disableRequestLogging: true }),
    https,
    http: { connectionsCheckingInterval },
    connectionTimeout: g.idleTimeoutMs,
    // As long as the idle timeout (which would close the socket anyway), so a client's pool
    // (undici keeps a socket for the advertised timeout less a second or two) lets an idle
    // connection go well before the gateway does: a request sent on a socket the gateway closes
    // at that moment fails with "other side closed" (seen with 5 s on a loaded machine).
    keepAliveTimeout: g.idleTimeoutMs,
    // No bound on a whole request: a large body may take long; the idle timeout cuts a stalled one.
    requestTimeout: 0,
    bodyLimit: 1024 * 1024,
    trustProxy: g.trustProxy,
    return503OnClosing: true,
    routerOptions: { maxParamLength: 2048 },
    // The framework's refusals (a bad %-encoding) and the parser's are problems like any other.
    frameworkErrors: (err: Error, request: FastifyRequest, reply: FastifyReply) => sendProblem(err, request, reply),
    clientErrorHandler: (err: Error, socket: Duplex) => clientErrorAnswer(log, err, socket),
  };
}

export async function startGateway(
  config: Config,
  log: Logger,
  o: { ensureTopology?: boolean } = {},
): Promise<GatewayServer> {
  const g = config.gateway;
  const tokens = new TokenStore(g.tokensFile, log);
  const app = Fastify(fastifyOptions(config, log));
  const nc = await connectNats(config.nats, { name: "gateway" });
  if (o.ensureTopology)
    await ensureTopology(nc, {
      stream: config.stream,
      destinations: config.destinations,
      blobProjects: config.staging.projects,
    });
  const jsm = await jetstreamManager(nc);
  const ledgerKv = await new Kvm(nc).open(LEDGER_BUCKET);
  await checkLedgerFormat(ledgerKv); // refuses a ledger in a format it does not read
  const ledger = new Ledger(ledgerKv);
  const blobs = await openBlobStores(config.staging, nc, { logger: log });
  const blobStore = blobs.get(config.staging.store);
  const metrics = new GatewayMetrics();
  // Short: a client waiting on an unconfirmed publish is better told to retry with its key.
  const publisher = await ArtifactPublisher.create({
    nc,
    blobStore,
    publishTimeoutMs: 5_000,
    registry: metrics.registry,
  });
  let connected = true;
  let stopping = false;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "close") connected = false;
      else if (s.type === "reconnect") connected = true;
    }
    connected = false;
  })();
  const readBack = new ReadBack(config.destinations, log, g.readBack);
  const hub = new LedgerHub(ledger, nc, log);
  // The ledger watch runs from now on: the destinations' rates and errors are known before any page opens.
  const activity = new DestinationActivity(hub, log);
  await activity.start();
  const deps: GatewayDeps = {
    config: g,
    tokens,
    publisher,
    blobStore,
    // Status reads check the destinations every 5 s (names and topology stamp) and list in full
    // each minute: a full listing costs the server time in proportion to the stream.
    directory: new DestinationDirectory(nc, ledger.kv, { fullListMs: 60_000 }),
    ledger,
    index: new EventIndex(jsm, ledger.kv, nc, (m) => {
      metrics.inadmissible.inc();
      log.debug(m, "read skipped a message its subject does not vouch for");
    }),
    hub,
    live: new LiveFeed(hub, log),
    activity,
    readBack,
    js: jetstream(nc),
    jsm,
    metrics,
    notReady: () => [
      ...(stopping ? ["shutting down"] : []),
      ...(connected ? [] : ["not connected to NATS (reconnecting)"]),
    ],
  };
  await app.register(gatewayApp, { deps });
  app.server.headersTimeout = g.headersTimeoutMs;
  // Stopping, Node closes the connections idle at that moment, not those that turn idle later: a
  // request finishing in the grace period (a PUT whose body was still coming, a live stream
  // ended by the stop) left its client's kept-alive connection open, which held the stop until
  // the grace period cut it. Close each as soon as its response is done.
  app.server.on("request", (_req, res: ServerResponse) => {
    res.once("finish", () => {
      if (stopping) setImmediate(() => app.server.closeIdleConnections());
    });
  });

  // Temp files of bodies cut short by a crash: nothing writes to them any more.
  const sweepAfterMs = Math.max(2 * g.idleTimeoutMs, 1_000);
  const sweep = () => {
    if (!(blobStore instanceof FsBlobStore)) return;
    blobStore.sweepAbandonedStreams(sweepAfterMs).then(
      (n) => n > 0 && log.info({ removed: n }, "removed temp files of bodies cut short"),
      (err: Error) => log.warn({ error: err.message }, "sweep of abandoned bodies failed"),
    );
  };
  sweep();
  const sweeper = setInterval(sweep, sweepAfterMs);
  sweeper.unref();

  await app.listen({ host: g.host, port: g.port });
  const address = app.server.address() as { port: number };
  const host = g.host.includes(":") ? `[${g.host}]` : g.host;
  const url = `${g.tlsCertFile ? "https" : "http"}://${host}:${address.port}`;
  let stopped: Promise<void> | undefined;
  return {
    url,
    app,
    reloadTokens: () => {
      tokens.reload();
      // A revoked token's open streams end now, not at their next reconnect (which it would fail).
      const ended = deps.live.prune();
      if (ended > 0) log.info({ streams: ended }, "live streams of revoked or changed tokens ended");
    },
    stop: () =>
      (stopped ??= (async () => {
        stopping = true;
        clearInterval(sweeper);
        const closing = app.close();
        const cut = await Promise.race([closing.then(() => false), sleep(config.shutdownGraceMs, true)]);
        // Said, because a stop that waits out its grace period looks like a hang from outside.
        if (cut) log.warn({ graceMs: config.shutdownGraceMs }, "requests still open after the grace period: cut");
        app.server.closeAllConnections();
        await closing;
        activity.stop();
        // No restart of the ledger watch may start once NATS drains below.
        hub.close();
        await readBack.close();
        await blobs.close();
        await nc.drain().catch(() => nc.close());
      })()),
  };
}
