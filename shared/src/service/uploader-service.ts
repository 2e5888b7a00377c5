/**
 * The process around the workers: config, NATS connection, one worker per configured
 * destination of this service's kind, metrics, and graceful shutdown on SIGTERM/SIGINT.
 * A service folder only supplies a DestinationFactory (destination/destination.ts).
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { type Consumer, jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { openBlobStores } from "../blob/mod.ts";
import { type Config, ConfigError, type DestinationConfig, loadConfig } from "../config/config.ts";
import { retentionOf } from "../config/retention.ts";
import { parseDestinationName } from "../contract/destination-name.ts";
import { blobStillNeeded } from "../delivery/blob-release.ts";
import { startConsumerGauges } from "../delivery/consumer-gauges.ts";
import { KeyLeases } from "../delivery/key-lease.ts";
import { DestinationWorker } from "../delivery/worker.ts";
import { WorkerMetrics } from "../delivery/worker-metrics.ts";
import type { Destination, DestinationFactory } from "../destination/destination.ts";
import { describeError } from "../destination/errors.ts";
import { Ledger } from "../ledger/ledger.ts";
import { startReplicaHeartbeat } from "../ledger/replica-heartbeat.ts";
import { createLogger } from "../log.ts";
import { jetStreamManagerWhenAvailable, untilAvailable } from "../nats/availability.ts";
import { connectNats } from "../nats/connect.ts";
import { DestinationDirectory } from "../nats/destinations.ts";
import { checkLedgerFormat } from "../nats/ledger-format.ts";
import { termTakesReason } from "../nats/server-features.ts";
import { ensureTopology } from "../nats/topology.ts";
import { consumerName, EVENTS_STREAM, LEDGER_BUCKET, replayConsumerName } from "../nats/topology-names.ts";
import { persistCompileCache } from "./compile-cache.ts";
import { startBlobSweeper, startDestinationCleanup } from "./housekeeping.ts";
import { type ServiceHttp, serveServiceHttp } from "./service-http.ts";
import { servedDestinations } from "./uploader-config.ts";
import { UploaderReadiness } from "./uploader-readiness.ts";

export interface UploaderService {
  readonly workers: DestinationWorker[];
  readonly nc: NatsConnection;
  /** `/metrics`, `/healthz` and `/readyz`, when `metricsPort` is set. */
  readonly http: ServiceHttp | undefined;
  stop(): Promise<void>;
}

export interface StartOptions {
  config?: Config;
  log?: Logger;
  /** Apply the topology at start (local stack and tests); production uses the CLI. */
  ensureTopology?: boolean;
  /** Install SIGTERM/SIGINT handlers (default true). */
  handleSignals?: boolean;
}

/** How long start-up waits for JetStream to answer (a leader election, a node away) before it gives up. */
const START_WAIT_MS = 120_000;

export async function startUploaderService(
  factory: DestinationFactory,
  opts: StartOptions = {},
): Promise<UploaderService> {
  const config = opts.config ?? loadConfig();
  const log = opts.log ?? createLogger(`${factory.kind}-uploader`, config.logLevel);
  const mine = servedDestinations(config, factory.kind);
  const destinations = await Promise.all(mine.map((d) => factory.create(d, log)));
  destinations.forEach((d, i) => {
    if (mine[i]?.keepSets !== undefined && !d.remove) {
      const at = config.destinations.indexOf(mine[i] as DestinationConfig);
      throw new ConfigError(`config field destinations.${at}.keepSets: ${d.name} cannot remove what it uploaded`);
    }
  });

  const nc = await connectNats(config.nats, { name: `${factory.kind}-uploader` });
  if (opts.ensureTopology)
    await ensureTopology(nc, {
      stream: config.stream,
      destinations: config.destinations,
      blobProjects: config.staging.projects,
    });
  // Started while a node is away or a leader is being elected, it waits (like a trainer's
  // publish) instead of exiting: its requests are reads, safe to repeat.
  let warned = 0;
  const waiting =
    (what: string) =>
    (err: unknown, waitedMs: number): void => {
      if (Date.now() - warned < 5_000) return; // one line per 5 s is enough to see it wait
      warned = Date.now();
      log.warn({ err: describeError(err), waitedMs }, `${what}: JetStream not available yet, waiting`);
    };
  const available = <T>(what: string, step: () => Promise<T>) =>
    untilAvailable(step, { timeoutMs: START_WAIT_MS, onWait: waiting(what) });
  const js = jetstream(nc);
  // Not through `available`: that would wait out what this one refuses at once (no JetStream).
  const jsm = await jetStreamManagerWhenAvailable(nc, START_WAIT_MS, waiting("start-up"));
  const kv = await new Kvm(nc).open(LEDGER_BUCKET);
  await available("ledger format check", () => checkLedgerFormat(kv));
  const ledger = new Ledger(kv);
  // Blob release: checked every 5 s (names and topology stamp), listed in full once a minute.
  const directory = new DestinationDirectory(nc, kv, { fullListMs: 60_000 });
  const blobs = await openBlobStores(config.staging, nc);
  const metrics = new WorkerMetrics();
  const replicaId = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;

  const termReasons = termTakesReason(nc.info?.version);
  const workers: DestinationWorker[] = [];
  const eventConsumers: { destination: string; consumer: Consumer }[] = [];
  for (const [i, dc] of mine.entries()) {
    const destination = destinations[i] as Destination;
    const token = parseDestinationName(dc.name).token;
    const events = await available(`consumer of ${dc.name}`, () =>
      js.consumers.get(EVENTS_STREAM, consumerName(token)),
    );
    eventConsumers.push({ destination: dc.name, consumer: events });
    metrics.register(dc.name);
    const worker = new DestinationWorker({
      js,
      jsm,
      consumers: {
        events,
        replays: await available(`replay consumer of ${dc.name}`, () =>
          js.consumers.get(EVENTS_STREAM, replayConsumerName(token)),
        ),
      },
      destination,
      config: dc,
      ledger,
      leases: new KeyLeases(kv, dc.ackWaitMs, async (ref) => (await ledger.getOf(token, ref, ref.seq))?.state),
      directory,
      blobs,
      log: log.child({ destination: dc.name }),
      metrics,
      replicaId,
      termReasons,
    });
    worker.start();
    workers.push(worker);
  }
  const retention = retentionOf(config.stream);
  const keep = blobStillNeeded(ledger, directory, retention.deadLettersMs);
  const stopSweeper = startBlobSweeper(blobs, retention, keep, log);
  const stopCleanup = startDestinationCleanup(
    mine.map((config, i) => ({ config, destination: destinations[i] as Destination })),
    log,
  );
  log.info({ destinations: mine.map((d) => d.name), replicaId }, "uploader started");
  persistCompileCache();

  const named = workers.map((w, i) => ({
    name: (mine[i] as DestinationConfig).name,
    breaker: w.breaker,
    pause: w.pause,
  }));
  // A pause is an operator's choice, not unreadiness: only the breakers count there.
  const readiness = new UploaderReadiness(nc, named);
  const heartbeat = startReplicaHeartbeat({ kv, replicaId, workers: named, log });
  // Consumer counts only matter to a scraper: read them only when one can ask.
  const stopGauges = config.metricsPort === undefined ? () => {} : startConsumerGauges(eventConsumers, metrics, log);
  const http =
    config.metricsPort === undefined
      ? undefined
      : await serveServiceHttp({
          host: config.metricsHost,
          port: config.metricsPort,
          metrics: metrics.registry,
          notReady: () => readiness.notReady(),
        });

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      log.info({ graceMs: config.shutdownGraceMs }, "stopping: no new pulls, finishing in-flight uploads");
      readiness.markStopping();
      stopSweeper();
      stopCleanup();
      stopGauges();
      await heartbeat.stop();
      await Promise.all(workers.map((w) => w.stop(config.shutdownGraceMs)));
      await Promise.all(destinations.map((d) => d.close().catch(() => undefined)));
      await blobs.close();
      await http?.close();
      await nc.drain().catch(() => nc.close());
      log.info("stopped");
    })());

  if (opts.handleSignals !== false) {
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
      process.once(sig, () => {
        stop().then(
          () => process.exit(0),
          (err) => {
            log.error({ err }, "shutdown failed");
            process.exit(1);
          },
        );
      });
    }
  }
  return { workers, nc, http, stop };
}
