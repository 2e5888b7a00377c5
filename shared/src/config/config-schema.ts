/**
 * The configuration's shape: every field with its bounds and its default, as the TypeBox schemas
 * that parseConfig (config.ts) fills in and validates against, and the types the rest of the
 * library reads. Apart from config.ts, which gathers the values (file, environment) and checks
 * what no schema can say, so a setting's limits and default are read in one place.
 */

import { type Static, Type } from "@sinclair/typebox";
import { SUBJECT_TOKEN_PATTERN } from "../contract/schema.ts";

/**
 * How long a process waits at start for its first NATS connection. A wrong URL should fail
 * a trainer's CLI call or an uploader's start within seconds, not hang; once connected,
 * reconnects go on forever.
 */
export const DEFAULT_NATS_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_NATS_PING_INTERVAL_MS = 5_000;

const Ms = (def: number, description: string) => Type.Integer({ minimum: 0, default: def, description });

export const BackoffConfigSchema = Type.Object({
  initialMs: Ms(1000, "First retry delay"),
  maxMs: Ms(60_000, "Cap on any retry delay"),
  multiplier: Type.Number({ minimum: 1, default: 2 }),
  jitter: Type.Number({ minimum: 0, maximum: 1, default: 0.25, description: "Fraction of the delay randomised" }),
});

export const BreakerConfigSchema = Type.Object({
  errorThresholdPercentage: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
  volumeThreshold: Type.Integer({ minimum: 1, default: 5, description: "Failures seen before the breaker may open" }),
  rollingWindowMs: Ms(30_000, "Window the error percentage is computed over"),
  resetTimeoutMs: Ms(5_000, "Time open before a half-open probe"),
  probeTimeoutMs: Ms(10_000, "Timeout of one probe"),
});

export const DestinationConfigSchema = Type.Object({
  name: Type.String({ description: "<kind>:<name>, e.g. s3:main" }),
  filter: Type.Object(
    {
      project: Type.String({ default: "*" }),
      run: Type.String({ default: "*" }),
      level: Type.Union([Type.Literal("*"), Type.Literal("fit"), Type.Literal("epoch"), Type.Literal("batch")], {
        default: "*",
      }),
    },
    { default: {} },
  ),
  concurrency: Type.Integer({ minimum: 1, maximum: 256, default: 4 }),
  maxDeliver: Type.Integer({ minimum: 1, default: 10, description: "Upload attempts before the DLQ" }),
  coalesce: Type.Optional(
    Type.Boolean({
      description:
        "Skip a version when a newer one of its key already waits (default: the destination's own, true for S3 and SFTP); off, every event is uploaded, in logging order",
    }),
  ),
  setPointer: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        "Name of a checkpoint set's pointer, from {dir} (the set's parent directory), {set}, {base} (its last segment) and {rank} (one pointer per rank that logged a member: Composer's {dir}/latest-rank{rank}.pt.symlink); default {dir}/latest",
    }),
  ),
  keepSets: Type.Optional(
    Type.Integer({
      minimum: 1,
      description:
        "Keep the newest N complete checkpoint sets of a run and pointer here, removing older ones once the pointer moved past them; absent, every set stays (not W&B)",
    }),
  ),
  ackWaitMs: Ms(30_000, "Time before an unacknowledged delivery goes to another replica"),
  uploadTimeoutMs: Ms(3_600_000, "Upper bound on one upload attempt"),
  backoff: Type.Object(BackoffConfigSchema.properties, { default: {} }),
  breaker: Type.Object(BreakerConfigSchema.properties, { default: {} }),
  /** Backend options, validated by the adapter (bucket, host, templates, ...). */
  options: Type.Record(Type.String(), Type.Unknown(), { default: {} }),
});

export const GatewayConfigSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, default: "127.0.0.1", description: "Address the gateway listens on" }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: "0 picks a free port" }),
    tokensFile: Type.String({
      minLength: 1,
      default: ".artifact-bus/gateway-tokens.jsonl",
      description:
        "Token hashes with their projects and roles (`artifact-bus token create` appends); reloaded on SIGHUP",
    }),
    maxBodyBytes: Type.Integer({ minimum: 0, default: 64 * 1024 ** 3, description: "Largest artifact a PUT may send" }),
    allowedDirs: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description:
        "Directories whose files POST .../artifacts may stage by path, each with {project} as one whole path segment (/shared/{project}): a token reaches only its project's directory (none: that route is refused)",
    }),
    readBack: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description:
          "Destinations the gateway reads content back from, with read credentials of its own in its environment (default: every S3, SFTP and dir destination)",
      }),
    ),
    idleTimeoutMs: Ms(60_000, "A connection that sends nothing (and is not waiting on /wait) for this long is closed"),
    headersTimeoutMs: Ms(30_000, "Time a client has to send the request headers"),
    liveHeartbeatMs: Ms(
      15_000,
      "Between two heartbeat comments on a live stream (GET /v1/events/live), so proxies keep it open",
    ),
    maxWaitSeconds: Type.Integer({ minimum: 1, default: 3600, description: "Upper bound on /wait's timeout" }),
    tlsCertFile: Type.Optional(Type.String({ description: "PEM certificate (chain): serve HTTPS" })),
    tlsKeyFile: Type.Optional(Type.String({ description: "PEM private key of tlsCertFile" })),
    trustProxy: Type.Boolean({
      default: false,
      description: "Behind a TLS-terminating proxy: take the client address and scheme from X-Forwarded-*",
    }),
  },
  { default: {} },
);

export const ConfigSchema = Type.Object({
  nats: Type.Object(
    {
      servers: Type.Array(Type.String(), { minItems: 1, default: ["nats://127.0.0.1:4222"] }),
      user: Type.Optional(Type.String()),
      credsFile: Type.Optional(Type.String({ description: "NATS .creds file (JWT auth)" })),
      inboxPrefix: Type.Optional(
        Type.String({
          minLength: 1,
          description:
            "Subject prefix of this client's reply inboxes; default _INBOX_<user> with a user, else _INBOX. The user's permissions must let it subscribe to <prefix>.>",
        }),
      ),
      tlsCaFile: Type.Optional(Type.String()),
      // Optional in the type (filled in by parseConfig) so hand-built configs need not name it.
      connectTimeoutMs: Type.Optional(
        Type.Integer({
          minimum: 1,
          default: DEFAULT_NATS_CONNECT_TIMEOUT_MS,
          description: "Start-up gives up when no server accepted the first connection within this time",
        }),
      ),
      pingIntervalMs: Type.Optional(
        Type.Integer({
          minimum: 100,
          default: DEFAULT_NATS_PING_INTERVAL_MS,
          description:
            "A server that answers no ping for two intervals is left for another: bounds the stall behind a frozen node",
        }),
      ),
    },
    { default: {} },
  ),
  stream: Type.Object(
    {
      replicas: Type.Integer({ minimum: 1, maximum: 5, default: 1 }),
      retention: Type.Union([Type.Literal("limits"), Type.Literal("interest")], {
        default: "limits",
        description:
          "limits: events are kept for maxAgeMs (they are small; blobs are released by the ledger). interest: an event is removed once every destination acked it, but nats-server 2.9 drops events published during a graceful shutdown (nats-server#5031)",
      }),
      // At least 1: JetStream reads 0 as "forever", but the blob sweeper would read it as "now".
      maxAgeMs: Type.Integer({
        minimum: 1,
        default: 7 * 24 * 3600_000,
        description: "How long an event is kept; also the age after which blobs no ledger entry needs are swept",
      }),
      // Optional in the type (retentionOf derives it) so hand-built configs need not name it.
      deadLetterMaxAgeMs: Type.Optional(
        Type.Integer({
          minimum: 1,
          description:
            "How long a dead letter is kept (default 4 x maxAgeMs); a dead event's blob and ledger entry are kept as long, so its replay can land",
        }),
      ),
      duplicateWindowMs: Ms(120_000, "Publish dedupe window for Nats-Msg-Id"),
    },
    { default: {} },
  ),
  staging: Type.Object(
    {
      store: Type.Union([Type.Literal("fs"), Type.Literal("nats")], { default: "fs" }),
      dir: Type.String({ default: ".artifact-bus/staging", description: "Shared staging directory of the fs store" }),
      mode: Type.Union([Type.Literal("copy"), Type.Literal("link"), Type.Literal("move")], { default: "copy" }),
      projects: Type.Array(Type.String({ pattern: SUBJECT_TOKEN_PATTERN }), {
        default: [],
        description:
          "Projects that stage into the object store (store nats): `artifact-bus topology` creates each one's bucket artifact_blobs_<project>, which its trainers cannot do",
      }),
    },
    { default: {} },
  ),
  destinations: Type.Array(DestinationConfigSchema, { default: [] }),
  shutdownGraceMs: Ms(30_000, "SIGTERM: time to finish in-flight uploads before they are nak'ed"),
  logLevel: Type.Union(
    ["fatal", "error", "warn", "info", "debug", "trace", "silent"].map((l) => Type.Literal(l)),
    { default: "info" },
  ),
  metricsPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  metricsHost: Type.String({
    minLength: 1,
    default: "127.0.0.1",
    description: "Address the metrics and health endpoints listen on; 0.0.0.0 inside a container",
  }),
  gateway: GatewayConfigSchema,
});

export type Config = Static<typeof ConfigSchema>;
export type DestinationConfig = Static<typeof DestinationConfigSchema>;
export type BackoffConfig = Static<typeof BackoffConfigSchema>;
export type BreakerConfig = Static<typeof BreakerConfigSchema>;
export type GatewayConfig = Static<typeof GatewayConfigSchema>;
