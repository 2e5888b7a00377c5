/**
 * Pausing and resuming a destination from the API (and the operations page): the same record
 * `artifact-bus pause` writes (shared/src/ledger/destination-pause.ts). Destination-wide, so for
 * operators only; each action is in the audit log (audit.ts).
 */
import { pauseDestination, resumeDestination } from "@artifact-bus/shared";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { audit } from "../audit.ts";
import type { GatewayDeps } from "../deps.ts";
import { Problem } from "../problems.ts";
import { problems } from "../schemas.ts";
import { tokenOf } from "./operations.ts";

/** Pause and resume: destination-wide, so for operators only (an admin token of `*`). */
export async function pauseRoutes(app: FastifyInstance, deps: GatewayDeps): Promise<void> {
  const Paused = Type.Object({
    destination: Type.String(),
    paused: Type.Union([
      Type.Null(),
      Type.Object({ by: Type.String(), at: Type.String(), reason: Type.Optional(Type.String()) }),
    ]),
  });
  const params = Type.Object({ name: Type.String({ description: "e.g. s3:main" }) });
  /** The destination's token, once the caller may act on it and it exists. */
  const target = async (request: FastifyRequest) => {
    const caller = request.caller!;
    if (!caller.projects.includes("*")) {
      throw new Problem(
        "forbidden",
        "pausing a destination concerns every project: it needs an admin token of project *",
      );
    }
    const { name } = request.params as { name: string };
    const token = tokenOf(name, "name");
    if (!(await deps.directory.all()).some((d) => d.token === token)) {
      throw new Problem("not-found", `no destination ${name}`, { field: "name" });
    }
    return { name, token, caller };
  };
  app.post(
    "/v1/destinations/:name/pause",
    {
      config: { role: "admin" },
      schema: {
        summary: "Pause a destination: its replicas stop pulling (in-flight uploads finish); events wait",
        description:
          "Operators only (an admin token of project *). The pause outlives uploader restarts and shows in GET /v1/destinations; pausing again renews it.",
        tags: ["operations"],
        params,
        body: Type.Optional(
          Type.Object(
            { reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })) },
            { additionalProperties: false },
          ),
        ),
        response: { 200: Paused, ...problems(400, 401, 403, 404, 503) },
      },
    },
    async (request) => {
      const { name, token, caller } = await target(request);
      const reason = (request.body as { reason?: string } | undefined)?.reason;
      const record = await pauseDestination(deps.ledger.kv, token, { by: `gateway token ${caller.id}`, reason });
      audit(request, "destination paused", { destination: name, reason });
      const { paused: _, ...pause } = record;
      return { destination: name, paused: pause };
    },
  );
  app.post(
    "/v1/destinations/:name/resume",
    {
      config: { role: "admin" },
      schema: {
        summary: "Resume a paused destination: its replicas pull again and the backlog drains",
        description: "Operators only (an admin token of project *). `paused` is null afterwards.",
        tags: ["operations"],
        params,
        response: { 200: Paused, ...problems(400, 401, 403, 404, 503) },
      },
    },
    async (request) => {
      const { name, token } = await target(request);
      const was = await resumeDestination(deps.ledger.kv, token);
      audit(request, "destination resumed", { destination: name, wasPaused: was !== undefined });
      return { destination: name, paused: null };
    },
  );
}
