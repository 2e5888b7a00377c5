/** A run's checkpoint sets: where each stands at each destination, a failed one naming its missing members. */
import { runSets } from "@artifact-bus/shared";
import type { FastifyInstance } from "fastify";
import type { GatewayDeps } from "../deps.ts";
import { problems, RunParams, SetList } from "../schemas.ts";

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
}
