/**
 * Finding an artifact by name: every version of a name in a run, newest first, each with its
 * state (and attempt history) at each destination, and the newest error among them first. Only
 * in the token's projects: the project is checked before the route runs (403 otherwise).
 */
import { checkArtifactName, nameVersions } from "@artifact-bus/shared";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { GatewayDeps } from "../deps.ts";
import { Problem } from "../problems.ts";
import { problems, RunParams } from "../schemas.ts";

const MAX_VERSIONS = 100;

export async function versionRoutes(app: FastifyInstance, deps: GatewayDeps): Promise<void> {
  app.get(
    "/v1/projects/:project/runs/:run/versions/*",
    {
      config: { role: "read" },
      schema: {
        summary: "Find an artifact by name: its versions, newest first, each at each destination",
        description:
          "Path: `.../versions/{name}` (the name may hold `/`). `latestError` is the newest error among the versions (a version still failing or dead somewhere), null when none. Each destination's `history` lists its last attempts.",
        tags: ["artifacts"],
        params: Type.Object({
          project: RunParams.properties.project,
          run: RunParams.properties.run,
          "*": Type.String(),
        }),
        querystring: Type.Object({
          limit: Type.Optional(
            Type.Integer({ minimum: 1, maximum: MAX_VERSIONS, default: 20, description: "Newest versions" }),
          ),
        }),
        response: {
          200: Type.Object({
            project: Type.String(),
            run: Type.String(),
            name: Type.String(),
            versions: Type.Array(Type.Ref("ArtifactStatus")),
            latestError: Type.Union([
              Type.Null(),
              Type.Object({
                eventId: Type.String(),
                destination: Type.String(),
                error: Type.String(),
                at: Type.String(),
              }),
            ]),
          }),
          ...problems(400, 401, 403, 404, 503),
        },
      },
    },
    async (request) => {
      const { project, run, "*": path } = request.params as { project: string; run: string; "*": string };
      const { limit } = request.query as { limit: number };
      const name = checkArtifactName(path);
      const found = await nameVersions(deps.index, deps.ledger, deps.directory, { project, run, name, limit });
      if (found.versions.length === 0) {
        throw new Problem("not-found", `no artifact ${name} in ${project}/${run} (unknown or expired)`, {
          field: "name",
        });
      }
      return found;
    },
  );
}
