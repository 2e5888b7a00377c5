/**
 * The v1 artifact event: the one schema source. The TS type below and the committed
 * JSON Schema (`shared/schema/artifact-event.v1.json`) are both derived from it.
 */
import { type Static, Type } from "@sinclair/typebox";

/** Project and run ids double as NATS subject tokens, hence the narrow alphabet. */
export const SUBJECT_TOKEN_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$";
/** Event ids travel as `Nats-Msg-Id` and inside ledger keys. */
export const EVENT_ID_PATTERN = "^[A-Za-z0-9_-]{8,64}$";
export const SHA256_HEX_PATTERN = "^[0-9a-f]{64}$";
/** Bytes, not characters: the limit stands for every backend's path limits. */
export const MAX_NAME_BYTES = 1024;

/** Metadata bounds, in characters (JSON Schema's unit): keys, values, entries. */
export const MAX_METADATA_KEY_CHARS = 128;
export const MAX_METADATA_VALUE_CHARS = 1024;
export const MAX_METADATA_ENTRIES = 64;

export const LEVELS = ["fit", "epoch", "batch"] as const;
export type Level = (typeof LEVELS)[number];

export const BlobRefSchema = Type.Object(
  {
    store: Type.Union([Type.Literal("fs"), Type.Literal("nats")], {
      description: "fs: a file in the shared staging directory; nats: a JetStream object store entry",
    }),
    ref: Type.String({ minLength: 1, maxLength: 512, description: "Store-specific reference to the staged bytes" }),
    size: Type.Integer({ minimum: 0, description: "Size of the staged bytes" }),
    sha256: Type.String({ pattern: SHA256_HEX_PATTERN, description: "Lowercase hex sha256 of the staged bytes" }),
  },
  { additionalProperties: true },
);

export const ProducerSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 255 }),
    pid: Type.Integer({ minimum: 0 }),
    rank: Type.Optional(Type.Integer({ minimum: 0, description: "Global rank of the trainer process" })),
  },
  { additionalProperties: true },
);

/** At most this many members in one checkpoint set: its ledger record holds each (about 300 bytes). */
export const MAX_SET_MEMBERS = 2048;

export const SetRefSchema = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: MAX_NAME_BYTES,
      description:
        "The set's name, a relative path prefix (e.g. checkpoints/ep3-ba3000) under which the event's name lies",
    }),
    members: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_SET_MEMBERS,
        description: "How many members the set has, when known (required on the event that closes the set)",
      }),
    ),
    close: Type.Optional(
      Type.Literal(true, { description: "This event closes the set: named <set>/_set-close.json, it is no member" }),
    ),
    step: Type.Optional(Type.Integer({ minimum: 0, description: "The training step the set was written at" })),
  },
  { additionalProperties: true },
);

export const ArtifactEventV1Schema = Type.Object(
  {
    schema: Type.Literal(1),
    id: Type.String({ pattern: EVENT_ID_PATTERN, description: "Unique event id; also the Nats-Msg-Id header" }),
    project: Type.String({ pattern: SUBJECT_TOKEN_PATTERN }),
    run: Type.String({ pattern: SUBJECT_TOKEN_PATTERN }),
    name: Type.String({
      minLength: 1,
      maxLength: MAX_NAME_BYTES,
      description: "Relative POSIX path of the artifact, e.g. checkpoints/ep1-ba100-rank0.pt",
    }),
    level: Type.Union(
      LEVELS.map((l) => Type.Literal(l)),
      { description: "Composer LogLevel" },
    ),
    blob: BlobRefSchema,
    contentType: Type.String({ minLength: 1, maxLength: 255 }),
    metadata: Type.Record(Type.String(), Type.String({ maxLength: MAX_METADATA_VALUE_CHARS }), {
      maxProperties: MAX_METADATA_ENTRIES,
      // TypeBox writes record key constraints nowhere; propertyNames carries them to other
      // languages, and validateEvent checks the same bound for TypeScript.
      propertyNames: { minLength: 1, maxLength: MAX_METADATA_KEY_CHARS },
      description: "Small string map, copied to destinations that keep metadata",
    }),
    producer: ProducerSchema,
    createdAt: Type.String({ format: "date-time", description: "RFC 3339 time the artifact was logged" }),
    set: Type.Optional(SetRefSchema),
  },
  {
    $id: "https://artifact-bus.dev/schema/artifact-event.v1.json",
    title: "ArtifactEventV1",
    description: "Announces one version of an artifact (project, run, name) staged as an immutable blob.",
    additionalProperties: true,
  },
);

export type ArtifactEventV1 = Static<typeof ArtifactEventV1Schema>;
export type BlobRef = Static<typeof BlobRefSchema>;
export type Producer = Static<typeof ProducerSchema>;
export type SetRef = Static<typeof SetRefSchema>;
