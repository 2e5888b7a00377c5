/**
 * An end-to-end stack for tests and benchmarks, independent of the destination kind: the real
 * nats-server, the topology, a staging dir, trainers, and uploader replicas as child processes.
 * A destination-specific stack (S3Stack, SftpStack) adds its server and its config entry.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ArtifactPublisher,
  type BlobStores,
  type Config,
  connectNats,
  consumerName,
  type DeadLetter,
  type DestinationConfig,
  EVENTS_STREAM,
  ensureTopology,
  LEDGER_BUCKET,
  Ledger,
  type LedgerEntry,
  type LedgerState,
  openBlobStores,
  parseConfig,
  parseDestinationName,
  readDeadLetters,
  sampleServerConfig,
  sampleUsers,
} from "@artifact-bus/shared";
import { eventually, NatsCluster, NatsServer, UploaderProcess } from "@artifact-bus/testkit";
import { type ConsumerInfo, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";

/** Which event: what logFile returns, or the fields of one published by hand. */
export interface EventRef {
  id: string;
  project: string;
  run: string;
}

/** A breaker that opens after a few failures and probes again soon: fault tests see it move quickly. */
export const QUICK_BREAKER = {
  resetTimeoutMs: 300,
  volumeThreshold: 3,
  errorThresholdPercentage: 50,
  rollingWindowMs: 30_000,
  probeTimeoutMs: 2000,
};

export interface Trainer {
  publisher: ArtifactPublisher;
  blobs: BlobStores;
  nc: NatsConnection;
  close(): Promise<void>;
}

export class BusStack {
  readonly dir: string;
  readonly nats: NatsServer;
  readonly config: Config;
  readonly configPath: string;
  readonly nc: NatsConnection;
  /** Entry of the uploader service, e.g. services/s3-uploader/src/main.ts. */
  private readonly main: string;
  /** Environment every uploader process gets (credentials and the like). */
  private readonly env: Record<string, string>;
  private readonly uploaders = new Set<UploaderProcess>();
  /** The three nodes, when the stack runs a cluster (`nats` is then its first node). */
  readonly cluster: NatsCluster | undefined;
  /** Password per NATS user when the server runs the sample permissions; empty otherwise. */
  private readonly passwords: Map<string, string>;

  private constructor(
    dir: string,
    nats: NatsServer,
    config: Config,
    nc: NatsConnection,
    main: string,
    env: Record<string, string>,
    passwords: Map<string, string>,
    cluster?: NatsCluster,
  ) {
    this.passwords = passwords;
    this.cluster = cluster;
    this.dir = dir;
    this.nats = nats;
    this.config = config;
    this.nc = nc;
    this.main = main;
    this.env = env;
    this.configPath = join(dir, "config.json");
    writeFileSync(this.configPath, JSON.stringify(config));
  }

  /** Starts nats-server, writes the config with `destination` and applies the topology. */
  static async start(o: {
    dir?: string;
    destination: Partial<DestinationConfig> & { name: string };
    /** More destinations of the same kind, served by the same uploader processes. */
    moreDestinations?: (Partial<DestinationConfig> & { name: string })[];
    main: string;
    env?: Record<string, string>;
    /**
     * Run nats-server with the committed least-privilege sample (deploy/nats/nats-server.conf):
     * uploaders log in as `uploader-<token>`, trainers as `trainer-demo`, the stack as `admin`.
     */
    secured?: boolean;
    /** Run a three-node JetStream cluster instead of one server; streams and buckets get 3 replicas. */
    cluster?: boolean;
    /** Projects that may stage into the object store (`staging.projects`): each gets its bucket. */
    blobProjects?: string[] | undefined;
  }): Promise<BusStack> {
    const dir = o.dir ?? mkdtempSync(join(tmpdir(), "artifact-bus-e2e-"));
    let servers: { dispose(): Promise<void> } | undefined;
    try {
      mkdirSync(join(dir, "staging"), { recursive: true });
      mkdirSync(join(dir, "tmp"), { recursive: true, mode: 0o700 });
      // Letters first: the server parses an env value as config, and digits alone make a number.
      const users = o.secured ? sampleUsers() : [];
      const passwords = new Map(users.map((u) => [u.user, `pw-${randomBytes(12).toString("hex")}`]));
      const serverEnv = Object.fromEntries(
        users.flatMap((u) => ("env" in u.password ? [[u.password.env, passwords.get(u.user)!]] : [])),
      );
      const serverOptions = o.secured ? { config: sampleServerConfig(), env: serverEnv } : {};
      const cluster = o.cluster ? await NatsCluster.start(serverOptions) : undefined;
      const nats = cluster?.nodes[0] ?? (await NatsServer.start(serverOptions));
      servers = cluster ?? nats;
      const config = parseConfig({
        nats: { servers: cluster?.urls ?? [nats.url] },
        stream: { replicas: cluster ? 3 : 1 },
        staging: { store: "fs", dir: join(dir, "staging"), projects: o.blobProjects ?? [] },
        logLevel: "debug",
        shutdownGraceMs: 10_000,
        destinations: [o.destination, ...(o.moreDestinations ?? [])].map((d) => ({
          ackWaitMs: 5_000,
          ...d,
          backoff: { initialMs: 200, maxMs: 2_000, ...d.backoff },
          breaker: { resetTimeoutMs: 1_000, volumeThreshold: 3, ...d.breaker },
        })),
      });
      const nc = await connectNats(o.secured ? { ...config.nats, user: "admin" } : config.nats, {
        name: "e2e-admin",
        env: { ARTIFACT_BUS_NATS_PASSWORD: passwords.get("admin") ?? "" },
      });
      // A new cluster answers JetStream requests only once it elected a meta leader.
      await eventually(
        () =>
          ensureTopology(nc, {
            stream: config.stream,
            destinations: config.destinations,
            blobProjects: config.staging.projects,
          }).then(
            () => true,
            () => undefined,
          ),
        60_000,
        "the topology applied",
        500,
      );
      return new BusStack(dir, nats, config, nc, o.main, o.env ?? {}, passwords, cluster);
    } catch (err) {
      // A start that failed half-way (a server that did not come up) leaves nothing behind.
      await servers?.dispose().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  get destination(): string {
    return this.config.destinations[0]!.name;
  }

  get token(): string {
    return parseDestinationName(this.destination).token;
  }

  /**
   * Starts one more uploader replica as a child process. It is given a minute to say it started:
   * on a loaded machine (CI's 2 cores under a suite) a start can take far longer than on a desk.
   */
  async startUploader(extraEnv: Record<string, string> = {}): Promise<UploaderProcess> {
    const p = await UploaderProcess.start(
      {
        main: this.main,
        verbose: process.env.ARTIFACT_BUS_TEST_VERBOSE === "1",
        env: {
          ARTIFACT_BUS_CONFIG: this.configPath,
          // Uploaders are SIGKILLed (a crash test, dispose): what they keep in temp dirs for their
          // life (the OpenSSH transport's known_hosts) then goes with the stack's dir.
          TMPDIR: join(this.dir, "tmp"),
          ...this.login(`uploader-${this.token}`),
          ...this.env,
          ...extraEnv,
        },
      },
      60_000,
    );
    this.uploaders.add(p);
    return p;
  }

  /** A trainer: its own NATS connection and publisher (of global rank `rank`, if given). */
  async trainer(o: { rank?: number; publishTimeoutMs?: number } = {}): Promise<Trainer> {
    const { ARTIFACT_BUS_NATS_USER: user, ...env } = this.login("trainer-demo");
    const nc = await connectNats({ ...this.config.nats, user }, { name: "e2e-trainer", env });
    const blobs = await openBlobStores(this.config.staging, nc);
    const publisher = await ArtifactPublisher.create({ nc, blobStore: blobs.get("fs"), ...o });
    return { publisher, blobs, nc, close: () => nc.close() };
  }

  /** The NATS login of `user` as environment variables, when the server runs the sample permissions. */
  login(user: string): Record<string, string> {
    const password = this.passwords.get(user);
    return password ? { ARTIFACT_BUS_NATS_USER: user, ARTIFACT_BUS_NATS_PASSWORD: password } : {};
  }

  /** The ledger entry of an event at `destination` (default: the first one). */
  async ledger(event: EventRef, destination = this.destination): Promise<LedgerEntry | undefined> {
    const token = parseDestinationName(destination).token;
    const ref = { project: event.project, run: event.run, eventId: event.id };
    return new Ledger(await new Kvm(this.nc).open(LEDGER_BUCKET)).get(token, ref);
  }

  /** Waits until the ledger entry of an event reaches `state`, and returns it. */
  async ledgerReaches(
    event: EventRef,
    state: LedgerState,
    timeoutMs = 20_000,
    destination = this.destination,
  ): Promise<LedgerEntry> {
    return eventually(
      async () => {
        // A read may fail while a cluster settles after a fault ("temporarily unavailable"): asked again.
        const e = await this.ledger(event, destination).catch(() => undefined);
        return e?.state === state ? e : undefined;
      },
      timeoutMs,
      `the ledger of ${event.id} at ${destination} to say ${state}`,
    );
  }

  /**
   * Waits until the upload of an event (of `size` bytes) at the first destination reports at
   * least `fraction` of it done, and returns the bytes done: the moment a fault test kills.
   */
  async uploadPasses(event: EventRef, size: number, fraction: number): Promise<number> {
    return eventually(
      async () => {
        const e = await this.ledger(event).catch(() => undefined);
        return e?.state === "uploading" && (e.bytesDone ?? 0) >= size * fraction ? e.bytesDone : undefined;
      },
      120_000,
      `the upload to pass ${fraction * 100} %`,
      50,
    );
  }

  /** Every DLQ entry of `destination` (default: the first one). */
  async deadLetters(destination = this.destination): Promise<(DeadLetter & { seq: number })[]> {
    const out: (DeadLetter & { seq: number })[] = [];
    const destinationToken = parseDestinationName(destination).token;
    for await (const d of readDeadLetters(await jetstreamManager(this.nc), { destinationToken })) out.push(d);
    return out;
  }

  /** The server's view of a destination's consumer (default: the first destination). */
  async consumerInfo(destination = this.destination): Promise<ConsumerInfo> {
    const jsm = await jetstreamManager(this.nc);
    return jsm.consumers.info(EVENTS_STREAM, consumerName(parseDestinationName(destination).token));
  }

  async dispose(): Promise<void> {
    try {
      await Promise.all([...this.uploaders].map((u) => u.kill("SIGKILL")));
      await this.nc.close().catch(() => undefined);
      await (this.cluster ?? this.nats).dispose();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
