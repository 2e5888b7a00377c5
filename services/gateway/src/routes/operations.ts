/**
 * For operators: each destination's health (consumer backlog, breaker, live replicas, dead
 * letters), the dead letters themselves, and replays (the same code as `artifact-bus dlq replay`).
 */
import {
  type DeadLetter,
  destinationHealth,
  parseDestinationName,
  readDeadLetters,
  replayDeadLetters,
} from "@artifact-bus/shared";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { audit } from "../audit.ts";
import { type Caller, hasProject } from "../auth.ts";
import type { GatewayDeps } from "../deps.ts";
import { Problem } from "../problems.ts";
import { problems } from "../schemas.ts";

const Destination = Type.Object({
  name: Type.String(),
  filterSubject: Type.String(),
  consumer: Type.Object({
    pending: Type.Integer({ description: "Events not yet delivered" }),
    ackPending: Type.Integer({ description: "Delivered, not yet acknowledged (in flight or waiting)" }),
    redelivered: Type.Integer({ description: "Delivered more than once, not yet acknowledged" }),
  }),
  breaker: Type.Union(
    ["closed", "open", "halfOpen", "unknown"].map((s) => Type.Literal(s)),
    {
      description: "The worst state a live replica reports; unknown without live replicas",
    },
  ),
  replicas: Type.Object({
    alive: Type.Integer(),
    items: Type.Array(
      Type.Object({
        replicaId: Type.String(),
        breaker: Type.String(),
        paused: Type.Optional(Type.Boolean({ description: "Whether this replica holds its pulls for the pause" })),
        alive: Type.Boolean(),
        startedAt: Type.String(),
      }),
    ),
  }),
  paused: Type.Union(
    [Type.Null(), Type.Object({ by: Type.String(), at: Type.String(), reason: Type.Optional(Type.String()) })],
    { description: "An operator's pause (artifact-bus pause): who, when, why; null when not paused" },
  ),
  deadLetters: Type.Integer({ description: "Letters in its DLQ (replayed ones included)" }),
  lastError: Type.Optional(
    Type.Object(
      {
        message: Type.String(),
        errorClass: Type.Optional(Type.String({ description: "permanent, transient or invalid (when dead)" })),
        at: Type.String({ description: "When the ledger recorded it" }),
        eventId: Type.String(),
        project: Type.String(),
      },
      {
        description:
          "The newest failed attempt at this destination among the token's projects that this gateway saw in the ledger since it started: why a breaker may be open",
      },
    ),
  ),
  throughput: Type.Object(
    {
      windowSeconds: Type.Integer({ description: "Seconds looked back: 60, or since the gateway started if less" }),
      uploads: Type.Integer({ description: "Artifact versions that landed in the window" }),
      bytes: Type.Integer({ description: "Their bytes" }),
      uploadsPerSecond: Type.Number(),
      bytesPerSecond: Type.Integer(),
    },
    {
      description:
        "Uploads that landed at this destination lately, every project's (as the backlog), counted from the ledger changes this gateway hears",
    },
  ),
  readBack: Type.Boolean({ description: "Whether this gateway can serve content from it" }),
});

const Letter = Type.Object(
  {
    seq: Type.Integer({ description: "Sequence in the DLQ stream; what replays name" }),
    destination: Type.String(),
    reason: Type.String(),
    errorClass: Type.String(),
    attempts: Type.Integer(),
    streamSeq: Type.Integer(),
    subject: Type.String(),
    eventId: Type.Optional(Type.String()),
    project: Type.Optional(Type.String()),
    run: Type.Optional(Type.String()),
    replayDlqSeq: Type.Optional(Type.Integer()),
    payload: Type.String(),
    failedAt: Type.String(),
  },
  { additionalProperties: false },
);

export async function operationRoutes(app: FastifyInstance, deps: GatewayDeps): Promise<void> {
  app.get(
    "/v1/destinations",
    {
      config: { role: "read" },
      schema: {
        summary: "Every destination's consumer backlog, breaker state, live replicas and dead letters",
        tags: ["operations"],
        response: { 200: Type.Object({ destinations: Type.Array(Destination) }), ...problems(401, 403, 503) },
      },
    },
    async (request) => {
      const caller = request.caller!;
      const list = await destinationHealth(deps.jsm, deps.ledger.kv, deps.directory);
      return {
        destinations: list.map((d) => {
          const lastError = deps.activity.lastError(d.name, (project) => hasProject(caller, project));
          return {
            ...d,
            throughput: deps.activity.throughput(d.name),
            readBack: deps.readBack.can(d.name),
            ...(lastError ? { lastError } : {}),
          };
        }),
      };
    },
  );

  app.get(
    "/v1/token",
    {
      config: { role: "read" },
      schema: {
        summary: "The calling token: its id, projects and roles (never the token or its hash)",
        description:
          "What a client such as the operations page (/ui/) needs to know before offering actions: which projects it may read and whether it may replay dead letters (`admin`). `*` in projects is every project.",
        tags: ["operations"],
        response: {
          200: Type.Object({
            id: Type.String(),
            projects: Type.Array(Type.String()),
            roles: Type.Array(Type.String()),
          }),
          ...problems(401, 403),
        },
      },
    },
    async (request) => {
      const { id, projects, roles } = request.caller!;
      return { id, projects, roles };
    },
  );

  app.get(
    "/v1/dead-letters",
    {
      config: { role: "admin" },
      schema: {
        summary: "Dead letters of the token's projects, oldest first, with their reasons",
        tags: ["operations"],
        querystring: Type.Object({
          destination: Type.Optional(Type.String({ description: "e.g. s3:main; default every destination" })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
          after: Type.Optional(
            Type.Integer({ minimum: 0, default: 0, description: "DLQ sequence to start after (`next`)" }),
          ),
        }),
        response: {
          200: Type.Object({ items: Type.Array(Letter), next: Type.Union([Type.Integer(), Type.Null()]) }),
          ...problems(400, 401, 403, 503),
        },
      },
    },
    async (request) => {
      const { destination, limit, after } = request.query as { destination?: string; limit: number; after: number };
      const destinationToken = destination === undefined ? undefined : tokenOf(destination);
      const items: (DeadLetter & { seq: number })[] = [];
      for await (const letter of readDeadLetters(deps.jsm, {
        destinationToken,
        limit: limit + 1,
        fromSeq: after + 1,
        inProject: callersProjects(request.caller!),
      })) {
        items.push(letter);
      }
      const page = items.slice(0, limit);
      return { items: page, next: items.length > limit ? (page.at(-1)?.seq ?? null) : null };
    },
  );

  app.post(
    "/v1/dead-letters/replay",
    {
      config: { role: "admin" },
      schema: {
        summary:
          "Replay dead letters of one destination (of the token's projects), keeping each event's place in its key's order",
        tags: ["operations"],
        body: Type.Object(
          {
            destination: Type.String({ description: "e.g. s3:main" }),
            seqs: Type.Optional(
              Type.Array(Type.Integer({ minimum: 1 }), { description: "DLQ sequences; default all" }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            results: Type.Array(
              Type.Object({
                dlqSeq: Type.Integer(),
                eventId: Type.Optional(Type.String()),
                replayed: Type.Boolean(),
                skipped: Type.Optional(Type.String({ description: "Why it was not sent again" })),
              }),
            ),
          }),
          ...problems(400, 401, 403, 503),
        },
      },
    },
    async (request) => {
      const { destination, seqs } = request.body as { destination: string; seqs?: number[] };
      tokenOf(destination);
      const results = await replayDeadLetters(deps.js, deps.jsm, deps.ledger, destination, {
        ...(seqs ? { seqs } : {}),
        inProject: callersProjects(request.caller!),
      });
      audit(request, "dead letters replayed", {
        destination,
        seqs: seqs ?? "all",
        replayed: results.filter((r) => r.replayed).map((r) => r.dlqSeq),
        skipped: results.filter((r) => r.skipped).map((r) => r.dlqSeq),
      });
      return {
        results: results.map((r) => ({
          dlqSeq: r.dlqSeq,
          ...(r.eventId ? { eventId: r.eventId } : {}),
          replayed: r.replayed !== undefined,
          ...(r.skipped ? { skipped: r.skipped } : {}),
        })),
      };
    },
  );
}

/** A letter is the caller's when its subject's project is one of the token's; `*` sees every letter. */
function callersProjects(caller: Caller): (project: string | undefined) => boolean {
  if (caller.projects.includes("*")) return () => true;
  return (project) => project !== undefined && hasProject(caller, project);
}

/** A destination name's token; Problem `invalid-request` naming `field` when it is no destination name. */
export function tokenOf(destination: string, field = "destination"): string {
  try {
    return parseDestinationName(destination).token;
  } catch (err) {
    throw new Problem("invalid-request", (err as Error).message, { field });
  }
}
