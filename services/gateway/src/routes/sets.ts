/**
 * A run's checkpoint sets: where each stands at each destination, a failed one naming its missing
 * members; and closing a set (rank 0, after a barrier) by the count of its members.
 */
import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import { checkSetMembership, type Level, runSets, setClose } from "@artifact-bus/shared";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { GatewayDeps } from "../deps.ts";
import { Problem } from "../problems.ts";
import { type AcceptedBody, CloseSetBody, problems, RunParams, SetList } from "../schemas.ts";

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
          "Publishes the set's close event, `<set>/_set-close.json`. At each destination the set completes once that many members landed there: its manifest `<set>/_set-manifest.json` is published, then its pointer moves to it. `level` is the level its members were logged at (default `fit`), so the close reaches the same destinations. Closing twice with the same count is harmless; another count fails the set.",
        tags: ["artifacts"],
        params: RunParams,
        body: CloseSetBody,
        response: { 202: Type.Ref("Accepted"), ...problems(400, 401, 403, 422, 503) },
      },
    },
    async (request, reply) => {
      const { project, run } = request.params as { project: string; run: string };
      const body = request.body as { set: string; members: number; step?: number; level?: Level };
      const reasons = deps.notReady();
      if (reasons.length > 0) throw new Problem("nats-unavailable", reasons.join("; "), { retryAfterS: 2 });
      const { name, set, bytes } = setClose(body.set, body.members, body.step);
      checkSetMembership({ name, set });
      const target = await deps.publisher.target({ project, run, name, level: body.level ?? "fit" });
      // Not the publisher's closeSet: that one tracks the close for its flush(), which a gateway never calls.
      const id = randomUUID();
      const blob = await deps.blobStore.stageStream(Readable.from([bytes]), {
        project: target.project,
        run: target.run,
        id,
        sizeHint: bytes.length,
      });
      const logged = await deps.publisher.publishStaged(target, { id, blob, contentType: "application/json", set });
      const answer: AcceptedBody = {
        id,
        project: target.project,
        run: target.run,
        name,
        level: target.level,
        sha256: blob.sha256,
        size: blob.size,
        destinations: logged.destinations,
        streamSeq: logged.streamSeq,
        status: `/v1/artifacts/${id}`,
      };
      deps.index.sendRecord(id, { project, run, streamSeq: logged.streamSeq, answer });
      return reply.code(202).header("location", answer.status).send(answer);
    },
  );
}
