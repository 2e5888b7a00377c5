/**
 * A run's checkpoint sets: where each stands at each destination, a failed one naming its missing
 * members; and closing a set (rank 0, after a barrier) by the count of its members.
 */
import { Readable } from "node:stream";
import { type Level, runSets, type SetStatus, setClose } from "@artifact-bus/shared";
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { accept, sendAcceptance } from "../accept.ts";
import { callerOf } from "../auth.ts";
import type { GatewayDeps } from "../deps.ts";
import { sha256OfJson } from "../idempotency.ts";
import {
  CloseSetBody,
  IDEMPOTENCY_PROBLEMS,
  IdempotencyKey,
  problems,
  RunParams,
  SetList,
  type SetStatusSchema,
} from "../schemas.ts";

/**
 * The listing's items declare exactly the fields a SetStatus has (tsc fails here otherwise):
 * the serializer drops a field the schema lacks, and the OpenAPI document would not show it.
 */
type SameFields<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
const setFieldsDeclared: SameFields<SetStatus, Static<typeof SetStatusSchema>> = true;
void setFieldsDeclared;

export async function setRoutes(app: FastifyInstance, deps: GatewayDeps): Promise<void> {
  app.get(
    "/v1/projects/:project/runs/:run/sets",
    {
      config: { role: "read" },
      schema: {
        summary: "A run's checkpoint sets: complete, open or failed at each destination",
        tags: ["artifacts"],
        params: RunParams,
        response: { 200: SetList, ...problems(400, 401, 403, 503) },
      },
    },
    async (request) => {
      const { project, run } = request.params as { project: string; run: string };
      return { items: await runSets(deps.ledger.kv, project, run) };
    },
  );

  app.post(
    "/v1/projects/:project/runs/:run/sets/close",
    {
      config: { role: "publish" },
      schema: {
        summary: "Close a checkpoint set: say how many members it has",
        description:
          "Publishes the set's close event, `<set>/_set-close.json`. At each destination the set completes once that many members landed there: its manifest `<set>/_set-manifest.json` is published, then its pointer moves to it. `level` is the level its members were logged at (default `fit`), so the close reaches the same destinations. Closing twice with the same count is harmless; another count fails the set. With an `Idempotency-Key`, a retry gets the first answer and the key reused with another body is refused (422), so a retried close never publishes a second one.",
        tags: ["artifacts"],
        params: RunParams,
        headers: Type.Object({ "idempotency-key": IdempotencyKey }),
        body: CloseSetBody,
        response: { 202: Type.Ref("Accepted"), ...problems(400, 401, 403, 503), ...IDEMPOTENCY_PROBLEMS },
      },
    },
    async (request, reply) => {
      const { project, run } = request.params as { project: string; run: string };
      const body = request.body as { set: string; members: number; step?: number; level?: Level };
      const { name, set, bytes } = setClose(body.set, body.members, body.step);
      const level = body.level ?? "fit";
      const key = request.headers["idempotency-key"];
      // Accepted as any other write, so a retried key gets the first answer, not a second close
      // (which, with another count, would fail the set). Not the publisher's closeSet: that one
      // tracks the close for its flush(), which a gateway never calls.
      const acceptance = await accept(deps, {
        method: "POST",
        project,
        run,
        name,
        level,
        metadata: {},
        set,
        contentType: "application/json",
        idempotencyKey: typeof key === "string" ? key : undefined,
        tokenSha256: callerOf(request).sha256,
        bodySha256: async () => sha256OfJson({ ...body, level, step: body.step ?? null }),
        stage: (id) => deps.blobStore.stageStream(Readable.from([bytes]), { project, run, id, sizeHint: bytes.length }),
      });
      return sendAcceptance(reply, acceptance);
    },
  );
}
