/**
 * An end-to-end stack for tests and benchmarks: the real nats-server, the S3-compatible server
 * in its own process, the topology, and s3-uploader replicas as real child processes.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  ArtifactPublisher,
  type BlobStores,
  type Config,
  connectNats,
  type DeadLetter,
  type DestinationConfig,
  ensureTopology,
  LEDGER_BUCKET,
  Ledger,
  type LedgerEntry,
  openBlobStores,
  parseConfig,
  parseDestinationName,
  readDeadLetters,
} from "@artifact-bus/shared";
import { NatsServer, S3TestServer, UploaderProcess } from "@artifact-bus/shared/testing";
import { GetObjectCommand, ListObjectsV2Command, NoSuchKey, S3Client } from "@aws-sdk/client-s3";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";

const S3_MAIN = resolve(import.meta.dirname, "../../services/s3-uploader/src/main.ts");

export interface S3StackOptions {
  bucket?: string;
  destination?: Partial<DestinationConfig>;
  s3Options?: Record<string, unknown>;
  /** Credentials the uploader processes get; default the server's own. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export class S3Stack {
  readonly dir: string;
  readonly nats: NatsServer;
  readonly s3: S3TestServer;
  readonly config: Config;
  readonly configPath: string;
  readonly destination: string;
  readonly bucket: string;
  readonly nc: NatsConnection;
  private readonly uploaders = new Set<UploaderProcess>();
  private readonly credentials: { accessKeyId: string; secretAccessKey: string };

  private constructor(
    dir: string,
    nats: NatsServer,
    s3: S3TestServer,
    config: Config,
    nc: NatsConnection,
    o: S3StackOptions,
  ) {
    this.dir = dir;
    this.nats = nats;
    this.s3 = s3;
    this.config = config;
    this.nc = nc;
    this.destination = config.destinations[0]!.name;
    this.bucket = o.bucket ?? "artifacts";
    this.configPath = join(dir, "config.json");
    this.credentials = o.credentials ?? { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
    writeFileSync(this.configPath, JSON.stringify(config));
  }

  static async start(o: S3StackOptions = {}): Promise<S3Stack> {
    const dir = mkdtempSync(join(tmpdir(), "artifact-bus-e2e-"));
    mkdirSync(join(dir, "staging"));
    const bucket = o.bucket ?? "artifacts";
    const [nats, s3] = await Promise.all([NatsServer.start(), S3TestServer.start({ buckets: [bucket] })]);
    const config = parseConfig({
      nats: { servers: [nats.url] },
      staging: { store: "fs", dir: join(dir, "staging") },
      logLevel: "debug",
      shutdownGraceMs: 10_000,
      destinations: [
        {
          name: "s3:e2e",
          ackWaitMs: 5_000,
          backoff: { initialMs: 200, maxMs: 2_000 },
          breaker: { resetTimeoutMs: 1_000, volumeThreshold: 3 },
          ...o.destination,
          options: { bucket, endpoint: s3.endpoint, forcePathStyle: true, region: s3.region, ...o.s3Options },
        },
      ],
    });
    const nc = await connectNats(config.nats, { name: "e2e-admin" });
    await ensureTopology(nc, { stream: config.stream, destinations: config.destinations });
    return new S3Stack(dir, nats, s3, config, nc, o);
  }

  get token(): string {
    return parseDestinationName(this.destination).token;
  }

  /** Starts one more uploader replica as a child process. */
  async startUploader(extraEnv: Record<string, string> = {}): Promise<UploaderProcess> {
    const p = await UploaderProcess.start({
      main: S3_MAIN,
      verbose: process.env.ARTIFACT_BUS_TEST_VERBOSE === "1",
      env: {
        ARTIFACT_BUS_CONFIG: this.configPath,
        AWS_ACCESS_KEY_ID: this.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: this.credentials.secretAccessKey,
        AWS_REGION: this.s3.region,
        ...extraEnv,
      },
    });
    this.uploaders.add(p);
    return p;
  }

  /** A trainer: its own NATS connection and publisher. */
  async trainer(): Promise<{
    publisher: ArtifactPublisher;
    blobs: BlobStores;
    nc: NatsConnection;
    close(): Promise<void>;
  }> {
    const nc = await connectNats(this.config.nats, { name: "e2e-trainer" });
    const blobs = await openBlobStores(this.config.staging, nc);
    const publisher = await ArtifactPublisher.create({ nc, blobStore: blobs.get("fs") });
    return { publisher, blobs, nc, close: () => nc.close() };
  }

  s3Client(): S3Client {
    return new S3Client({
      endpoint: this.s3.endpoint,
      region: this.s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: this.s3.accessKeyId, secretAccessKey: this.s3.secretAccessKey },
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  }

  /** Independent GET of an object; undefined when absent. */
  async getObject(key: string): Promise<Buffer | undefined> {
    const client = this.s3Client();
    try {
      const out = await client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (err) {
      if (err instanceof NoSuchKey || (err as { name?: string }).name === "NoSuchKey") return undefined;
      throw err;
    } finally {
      client.destroy();
    }
  }

  async listKeys(prefix: string): Promise<string[]> {
    const client = this.s3Client();
    try {
      const out = await client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix }));
      return (out.Contents ?? []).map((o) => o.Key!).sort();
    } finally {
      client.destroy();
    }
  }

  async ledger(eventId: string): Promise<LedgerEntry | undefined> {
    return new Ledger(await new Kvm(this.nc).open(LEDGER_BUCKET)).get(this.token, eventId);
  }

  /** Every DLQ entry of this stack's destination. */
  async deadLetters(): Promise<DeadLetter[]> {
    const out: DeadLetter[] = [];
    for await (const d of readDeadLetters(await jetstreamManager(this.nc), { destinationToken: this.token }))
      out.push(d);
    return out;
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.uploaders].map((u) => u.kill("SIGKILL")));
    await this.nc.close().catch(() => undefined);
    await Promise.all([this.nats.dispose(), this.s3.dispose()]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
