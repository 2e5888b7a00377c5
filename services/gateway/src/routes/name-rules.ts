/**
 * What the destinations that would take a name accept of names: the rules the publisher checks a
 * name against before it stages a byte. The rules only, no verdict on the name asked about. A producer that must decide before it logs asks here (the
 * Python Composer drop-in: is Composer's `latest-rank{rank}.pt.symlink` a name a destination
 * writes checkpoint sets' pointers under (`setPointer`), so that it logs the checkpoint as a set
 * and leaves the symlink to the destination?).
 */
import type { Level } from "@artifact-bus/shared";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { GatewayDeps } from "../deps.ts";
import { Problem } from "../problems.ts";
import { Level as LevelSchema, problems, RunParams } from "../schemas.ts";

const Rules = Type.Object(
  {
    allowDotSegments: Type.Boolean(),
    maxSegmentBytes: Type.Optional(Type.Integer()),
    setPointer: Type.Optional(
      Type.String({ description: "the template of the names it writes checkpoint sets' pointers under: reserved" }),
    ),
    pathTemplate: Type.Optional(
      Type.String({
        description:
          "the template it renders an artifact's path with (S3's keyTemplate, SFTP's and dir's pathTemplate); with `prefix` or `root` and `maxPathBytes`, the path a name would take is checked against the limit",
      }),
    ),
    prefix: Type.Optional(
      Type.String({ description: "S3: the key prefix (normalised), before the rendered template" }),
    ),
    root: Type.Optional(
      Type.String({ description: "SFTP, dir: the root (normalised) the rendered template is joined to" }),
    ),
    maxPathBytes: Type.Optional(
      Type.Integer({
        description:
          "the longest path it writes, in UTF-8 bytes: 1,024 for an S3 key (prefix included), 4,095 for a file path (root included, and the temporary name written beside it)",
      }),
    ),
  },
  { additionalProperties: false },
);

const NameRulesAnswer = Type.Object(
  {
    name: Type.String({ description: "The name asked about" }),
    level: { ...LevelSchema, description: "The level looked up (`fit` when none was given)" },
    destinations: Type.Array(
      Type.Object(
        {
          destination: Type.String({ description: "e.g. s3:main" }),
          rules: Type.Optional(Rules),
        },
        { additionalProperties: false },
      ),
      { description: "each destination that would take the name; `rules` absent: none recorded, no check" },
    ),
  },
  { additionalProperties: false },
);

export async function nameRuleRoutes(app: FastifyInstance, deps: GatewayDeps): Promise<void> {
  app.get(
    "/v1/projects/:project/runs/:run/name-rules",
    {
      config: { role: "read" },
      schema: {
        summary: "The name rules of each destination that would take an artifact of this name (the rules, no verdict)",
        description:
          "The rules a publish of `name` at `level` (default `fit`) is checked against, without publishing: for each destination that would take it, its `allowDotSegments`, `maxSegmentBytes`, `setPointer` (names it writes checkpoint sets' pointers under are reserved) and, where it renders a path, `pathTemplate`, `prefix` or `root` and `maxPathBytes` (the path a name would take there, rendered for the run, level and rank, must fit). It does not say whether `name` passes them: a name a PUT would refuse by them (e.g. `checkpoints/latest`, a pointer's name) is answered 200 with the rules, and the client applies them. `name` itself is checked only against the rules every artifact name follows (400 `invalid-artifact`, `field: name`). 422 `no-destination` when no destination takes it.",
        tags: ["artifacts"],
        params: RunParams,
        querystring: Type.Object({
          name: Type.String({ description: "The artifact name whose destinations' rules to list" }),
          level: Type.Optional(LevelSchema),
        }),
        response: { 200: NameRulesAnswer, ...problems(400, 401, 403, 422, 503) },
      },
    },
    async (request) => {
      const { project, run } = request.params as { project: string; run: string };
      const query = request.query as { name: string; level?: Level };
      const reasons = deps.notReady();
      if (reasons.length > 0) throw new Problem("nats-unavailable", reasons.join("; "), { retryAfterS: 2 });
      const found = await deps.publisher.nameRules({ project, run, name: query.name, level: query.level ?? "fit" });
      return {
        name: found.name,
        level: found.level,
        destinations: found.rules.map((d) => ({ destination: d.destination, ...(d.rules ? { rules: d.rules } : {}) })),
      };
    },
  );
}
