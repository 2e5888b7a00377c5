/**
 * The JSON Schemas of the API (TypeBox): routes validate requests and serialize answers with
 * them, and the OpenAPI document is generated from them, so the three cannot disagree.
 */
import {
  EVENT_ID_PATTERN,
  LEVELS,
  MAX_METADATA_ENTRIES,
  MAX_METADATA_KEY_CHARS,
  MAX_METADATA_VALUE_CHARS,
  MAX_SET_MEMBERS,
  SUBJECT_TOKEN_PATTERN,
} from "@artifact-bus/shared";
import { type Static, type TSchema, Type } from "@sinclair/typebox";

export const Project = Type.String({ pattern: SUBJECT_TOKEN_PATTERN, description: "Project id" });
export const Run = Type.String({ pattern: SUBJECT_TOKEN_PATTERN, description: "Run id" });
export const EventId = Type.String({ pattern: EVENT_ID_PATTERN, description: "Event id of one artifact version" });
export const Level = Type.Union(
  LEVELS.map((l) => Type.Literal(l)),
  { description: "Composer LogLevel (default fit)" },
);
export const Metadata = Type.Record(Type.String(), Type.String({ maxLength: MAX_METADATA_VALUE_CHARS }), {
  maxProperties: MAX_METADATA_ENTRIES,
  propertyNames: { minLength: 1, maxLength: MAX_METADATA_KEY_CHARS },
  description: "Small string map",
});

export const RunParams = Type.Object({ project: Project, run: Run });

/** RFC 9457 problem details, as every error answer carries them. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: "Stable URI per kind of problem, https://artifact-bus.dev/problems/<kind>" }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    instance: Type.String(),
    field: Type.Optional(Type.String({ description: "The part of the request at fault" })),
  },
  { additionalProperties: true, $id: "Problem" },
);

/** The 202 answer of PUT and POST artifacts (and of a retried Idempotency-Key). */
export const Accepted = Type.Object(
  {
    id: EventId,
    project: Project,
    run: Run,
    name: Type.String(),
    level: Level,
    sha256: Type.String({ pattern: "^[0-9a-f]{64}$" }),
    size: Type.Integer({ minimum: 0 }),
    destinations: Type.Array(Type.String(), { description: "Destinations that take it, e.g. s3:main" }),
    streamSeq: Type.Integer({ description: "Sequence of the event in the ARTIFACTS stream" }),
    status: Type.String({ description: "URL of GET /v1/artifacts/{id}" }),
  },
  { $id: "Accepted" },
);
export type AcceptedBody = Static<typeof Accepted>;

export const DestinationState = Type.Object({
  state: Type.Union(["pending", "uploading", "uploaded", "superseded", "dead"].map((s) => Type.Literal(s))),
  location: Type.Optional(Type.String()),
  attempts: Type.Integer({ minimum: 0 }),
  error: Type.Optional(Type.String()),
  updatedAt: Type.String(),
  bytesDone: Type.Optional(
    Type.Integer({ minimum: 0, description: "While uploading: bytes sent so far (updated at most once a second)" }),
  ),
  history: Type.Optional(
    Type.Array(
      Type.Object({
        attempt: Type.Integer({ minimum: 1 }),
        startedAt: Type.String(),
        endedAt: Type.String(),
        outcome: Type.Union([Type.Literal("uploaded"), Type.Literal("failed")]),
        error: Type.Optional(Type.String()),
        replica: Type.String({ description: "The uploader replica that made it" }),
      }),
      { description: "The last attempts that ran (at most 5), oldest first; waits are not attempts" },
    ),
  ),
});

export const ArtifactStatus = Type.Object(
  {
    id: EventId,
    project: Project,
    run: Run,
    name: Type.String(),
    level: Level,
    sha256: Type.String(),
    size: Type.Integer(),
    createdAt: Type.String(),
    done: Type.Boolean({ description: "Final (uploaded, superseded or dead) at every destination" }),
    destinations: Type.Record(Type.String(), DestinationState),
  },
  { $id: "ArtifactStatus" },
);
export type ArtifactStatusBody = Static<typeof ArtifactStatus>;

export const ArtifactList = Type.Object({
  items: Type.Array(Type.Ref("ArtifactStatus")),
  next: Type.Union([Type.String(), Type.Null()], { description: "Cursor of the next page; null on the last" }),
});
export type ArtifactListBody = { items: ArtifactStatusBody[]; next: string | null };

/** One checkpoint set at one destination, as `GET .../sets` lists it (shared's SetStatus). */
export const SetStatusSchema = Type.Object({
  set: Type.String({ description: "The set's name, e.g. checkpoints/ep3-ba3000" }),
  destination: Type.String({ description: "The destination this line is about, e.g. s3:main" }),
  state: Type.Union(
    ["open", "complete", "failed"].map((s) => Type.Literal(s)),
    {
      description:
        "open: members are still to land, or the count is not known yet; complete: all `expected` members landed there (`manifest` is set once the manifest is published); failed: a member is dead there (`missing`), or the set cannot complete (`conflict`)",
    },
  ),
  expected: Type.Optional(
    Type.Integer({ minimum: 1, description: "How many members the set has, once an event said it" }),
  ),
  landed: Type.Integer({ minimum: 0, description: "How many members landed at this destination" }),
  missing: Type.Array(
    Type.Object({
      name: Type.String({ description: "The member's artifact name" }),
      eventId: Type.String({ description: "The id of the member's event" }),
      reason: Type.String({ description: "Why it is dead there" }),
    }),
    { description: "Members dead at this destination, and why (the set is then failed)" },
  ),
  conflict: Type.Optional(
    Type.String({
      description:
        "Why the set cannot complete besides dead members: its events disagree on the count, or it has too many members",
    }),
  ),
  place: Type.Integer({
    minimum: 0,
    description: "The set's place in order: the highest stream sequence among its events",
  }),
  manifest: Type.Optional(
    Type.String({ description: "Once published: where its manifest `<set>/_set-manifest.json` landed" }),
  ),
  pointer: Type.Optional(
    Type.String({
      description:
        "Once published: where its (first) pointer landed (default `<dir of set>/latest`), or the pointer's name when a newer set stood there",
    }),
  ),
  pointerMoved: Type.Optional(
    Type.Boolean({
      description: "Once published: whether the pointer was moved to this set (false: it names a newer set)",
    }),
  ),
  pointers: Type.Optional(
    Type.Record(Type.String(), Type.String(), {
      description: "Every pointer the set moved, name -> location (one per rank with a {rank} setPointer)",
    }),
  ),
  removed: Type.Optional(
    Type.String({ description: "When retention (keepSets) removed the set's manifest and members there" }),
  ),
  updatedAt: Type.String({ description: "When this destination's record of the set last changed (ISO 8601)" }),
});

export const SetList = Type.Object({ items: Type.Array(SetStatusSchema) });

const SetName = Type.String({
  minLength: 1,
  description: "The checkpoint set's name, e.g. checkpoints/ep3-ba3000; the artifact's name must lie under it",
});
const SetMembers = Type.Integer({ minimum: 1, maximum: MAX_SET_MEMBERS, description: "How many members the set has" });
const SetStep = Type.Integer({ minimum: 0, description: "The training step the set was written at" });

/** The set a logged file is a member of, in a POST body. */
export const MemberSetRef = Type.Object(
  { name: SetName, members: Type.Optional(SetMembers), step: Type.Optional(SetStep) },
  { additionalProperties: false, description: "The checkpoint set the artifact is a member of" },
);

/** The set a PUT body is a member of, in its query string. */
/** The global rank of the trainer logging an artifact: its event's producer.rank. */
export const ProducerRank = Type.Integer({
  minimum: 0,
  description:
    "Global rank of the trainer process logging it (the event's producer.rank); a destination whose setPointer says {rank} writes one pointer per rank",
});

export const SetQuery = {
  set: Type.Optional(SetName),
  setMembers: Type.Optional({ ...SetMembers, description: "How many members the set has, when known up front" }),
  setStep: Type.Optional(SetStep),
};

/** POST .../sets/close: the set and how many members it has. */
export const CloseSetBody = Type.Object(
  { set: SetName, members: SetMembers, step: Type.Optional(SetStep), level: Type.Optional(Level) },
  { additionalProperties: false },
);

export const WaitBody = Type.Object(
  { ids: Type.Optional(Type.Array(EventId, { maxItems: 10_000 })) },
  { additionalProperties: false },
);

export const WaitResult = Type.Object({
  done: Type.Boolean({ description: "false when the timeout passed first" }),
  counts: Type.Object({
    uploaded: Type.Integer(),
    superseded: Type.Integer(),
    dead: Type.Integer(),
    pending: Type.Integer(),
  }),
  pending: Type.Array(
    Type.Object({ id: Type.String(), name: Type.String(), destination: Type.String(), state: Type.String() }),
  ),
  dead: Type.Array(
    Type.Object({ id: Type.String(), name: Type.String(), destination: Type.String(), error: Type.String() }),
  ),
});
export type WaitResultBody = Static<typeof WaitResult>;

/** What an error status means, where the OpenAPI document shows it; the body's `type` tells the kind. */
const STATUS_MEANING: Record<number, string> = {
  400: "The request is invalid; `field` names the part at fault",
  401: "Missing or unknown bearer token",
  403: "The token may not do this",
  404: "No such resource",
  409: "Conflict",
  413: "The body is larger than the gateway accepts",
  416: "The Range lies outside the artifact (`Content-Range: bytes */<size>`)",
  422: "The request cannot be processed as it is",
  502: "A destination could not be read from",
  503: "The bus is not reachable (`Retry-After`)",
};

/** One error answer: an RFC 9457 problem document, sent as `application/problem+json`. */
export function problemResponse(description: string) {
  return { description, content: { "application/problem+json": { schema: Type.Ref("Problem") } } };
}

/** The Idempotency-Key header of a write (PUT, POST artifacts, POST sets/close); see idempotency.ts. */
export const IdempotencyKey = Type.Optional(
  Type.String({
    minLength: 1,
    maxLength: 128,
    description:
      "Retries of the same request with the same key publish once and get the first answer again (`Idempotent-Replayed: true`). 409 `idempotency-conflict` (with `Retry-After`): the same request is still in progress, retry. 422 `idempotency-key-reused`: the key was used for a different request (method, name, level or body), nothing was published.",
  }),
);

/** Error answers a route may give, by status, all problem documents. */
export function problems(...statuses: number[]): Record<number, ReturnType<typeof problemResponse>> {
  return Object.fromEntries(statuses.map((s) => [s, problemResponse(STATUS_MEANING[s] ?? "Problem")]));
}

/** The answers of a write with an Idempotency-Key besides 202 (IETF Idempotency-Key draft). */
export const IDEMPOTENCY_PROBLEMS = {
  409: problemResponse(
    "`idempotency-conflict`: the same request with this Idempotency-Key is still in progress (or staged by another replica and not yet published). Retry after `Retry-After` seconds with the same key.",
  ),
  422: problemResponse(
    "`idempotency-key-reused`: the Idempotency-Key was used for a different request (another method, name, level or body); nothing was published, do not retry with this key. Also `no-destination`: no destination takes the artifact.",
  ),
};

/** Schemas registered once by id (fastify.addSchema), referenced by Type.Ref. */
export const SHARED_SCHEMAS: TSchema[] = [ProblemSchema, Accepted, ArtifactStatus];
