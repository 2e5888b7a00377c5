/**
 * Logging artifacts: `PUT .../artifacts/{name}` streams the body into the blob store (never
 * whole in memory), `POST .../artifacts` stages a file by path for trainers on the shared
 * filesystem. Both answer 202 once the event is durable in the stream.
 */
import { Readable } from "node:stream";
import { type BlobStore, FsBlobStore, type Level, type SetRef, type StagingMode } from "@artifact-bus/shared";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { accept, sendAcceptance } from "../accept.ts";
import { callerOf } from "../auth.ts";
import type { GatewayDeps } from "../deps.ts";
import { sha256OfJson, sha256OfStream } from "../idempotency.ts";
import { Problem } from "../problems.ts";
import { openProjectFile } from "../project-file.ts";
import {
  checkMetadata,
  parseMetadata,
  queryOrHeader,
  setOfQuery,
  sha256FromContentDigest,
  utf8Header,
} from "../request-parts.ts";
import {
  IDEMPOTENCY_PROBLEMS,
  IdempotencyKey,
  Level as LevelSchema,
  MemberSetRef,
  Metadata,
  ProducerRank,
  problems,
  RunParams,
  SetQuery,
} from "../schemas.ts";

const accepted = { 202: Type.Ref("Accepted") };

export async function writeRoutes(app: FastifyInstance, deps: GatewayDeps): Promise<void> {
  await app.register(async (raw) => putRoute(raw, deps));
  postRoute(app, deps);
}

function putRoute(app: FastifyInstance, deps: GatewayDeps): void {
  // Bodies are artifacts, whatever their type: hand the stream over unparsed (in this context only).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, payload, done) => done(null, payload));
  app.put(
    "/v1/projects/:project/runs/:run/artifacts/*",
    {
      // The body is streamed to the store, not read by fastify: the preParsing hook in app.ts
      // refuses a Content-Length over maxBody, before 100 Continue; limited() counts a chunked body.
      config: { role: "publish", maxBody: () => deps.config.maxBodyBytes },
      schema: {
        summary: "Log an artifact: the body is its bytes",
        description:
          "The name may contain `/`. The body is streamed into the blob store and hashed on the way. `Content-Type` becomes the event's content type. The level and the metadata each come in the query (`level`, `metadata`) or in a header (`Artifact-Level`, `Artifact-Metadata`): one of the two, both answer 400 `invalid-request` naming both.",
        tags: ["artifacts"],
        params: Type.Object({
          project: RunParams.properties.project,
          run: RunParams.properties.run,
          "*": Type.String(),
        }),
        querystring: Type.Object({
          level: Type.Optional({
            ...LevelSchema,
            description: "Composer LogLevel (default fit), or the Artifact-Level header: not both (400)",
          }),
          metadata: Type.Optional(
            Type.String({ description: "JSON object of strings, or the Artifact-Metadata header: not both (400)" }),
          ),
          ...SetQuery,
          rank: Type.Optional(ProducerRank),
        }),
        headers: Type.Object({
          "artifact-metadata": Type.Optional(
            Type.String({
              description:
                "JSON object of strings, as UTF-8 (`\\u` escapes work too), or query `metadata`: not both (400)",
            }),
          ),
          "artifact-level": Type.Optional({
            ...LevelSchema,
            description: "Composer LogLevel (default fit), or query `level`: not both (400)",
          }),
          "content-digest": Type.Optional(Type.String({ description: "RFC 9530, e.g. sha-256=:<base64>:" })),
          "idempotency-key": IdempotencyKey,
        }),
        response: { ...accepted, ...problems(400, 401, 403, 413, 503), ...IDEMPOTENCY_PROBLEMS },
      },
    },
    async (request, reply) => {
      const { project, run, "*": name } = request.params as { project: string; run: string; "*": string };
      const query = request.query as {
        level?: Level;
        metadata?: string;
        set?: string;
        setMembers?: number;
        setStep?: number;
        rank?: number;
      };
      const h = request.headers;
      const header = (k: string) => (typeof h[k] === "string" ? (h[k] as string) : undefined);
      const max = deps.config.maxBodyBytes;
      const length = Number(header("content-length") ?? Number.NaN);
      const expectedSha256 = sha256FromContentDigest(header("content-digest"));
      const level = queryOrHeader(
        { name: "level", value: query.level },
        { name: "Artifact-Level", value: header("artifact-level") },
      );
      const given = queryOrHeader(
        { name: "metadata", value: query.metadata },
        { name: "Artifact-Metadata", value: header("artifact-metadata") },
      );
      const metadata =
        given?.from === "Artifact-Metadata"
          ? parseMetadata(utf8Header(given.value, given.from), given.from)
          : parseMetadata(given?.value, "metadata");
      const raw = (request.body as Readable | undefined) ?? request.raw;
      // Node's parser stops a body at its Content-Length; only a chunked one needs counting.
      const body = Number.isFinite(length) ? raw : Readable.from(limited(raw, max), { objectMode: false });
      const acceptance = await accept(deps, {
        method: "PUT",
        project,
        run,
        name,
        level: (level?.value as Level | undefined) ?? "fit",
        metadata,
        ...setOfQuery(query),
        ...(query.rank === undefined ? {} : { rank: query.rank }),
        contentType: header("content-type"),
        idempotencyKey: header("idempotency-key"),
        tokenSha256: callerOf(request).sha256,
        // A retry answered from the record is not staged: its bytes are only hashed, if they must be.
        bodySha256: async (bytes) => bytes ?? expectedSha256 ?? (await sha256OfStream(body)),
        stage: (id) =>
          deps.blobStore
            .stageStream(body, {
              project,
              run,
              id,
              expectedSha256,
              ...(Number.isFinite(length) ? { sizeHint: length } : {}),
              // Each body chunk is the parser's own copy, read by nothing after it is written.
              releaseChunks: true,
            })
            .catch((err: unknown) => {
              if (!request.raw.complete)
                request.log.info({ id }, "the body ended early (client gone?); nothing staged");
              throw err;
            }),
      });
      return sendAcceptance(reply, acceptance);
    },
  );
}

function postRoute(app: FastifyInstance, deps: GatewayDeps): void {
  app.post(
    "/v1/projects/:project/runs/:run/artifacts",
    {
      config: { role: "publish" },
      schema: {
        summary: "Log an artifact from a file on the gateway's filesystem",
        description:
          "For trainers sharing a filesystem with the gateway: `path` must lie in one of the project's directories (`gateway.allowedDirs` entries with `{project}` replaced by the path's project), with no symbolic link below that directory. `link` and `move` change or take the file itself, so they need a file owned by the gateway's user (403 `mode-not-allowed` otherwise); `copy` takes any readable file.",
        tags: ["artifacts"],
        params: RunParams,
        headers: Type.Object({ "idempotency-key": IdempotencyKey }),
        body: Type.Object(
          {
            name: Type.String({ minLength: 1 }),
            path: Type.String({ minLength: 1, description: "Absolute path of the file" }),
            level: Type.Optional(LevelSchema),
            metadata: Type.Optional(Metadata),
            mode: Type.Optional(Type.Union(["copy", "link", "move"].map((m) => Type.Literal(m)))),
            set: Type.Optional(MemberSetRef),
            rank: Type.Optional(ProducerRank),
          },
          { additionalProperties: false },
        ),
        response: { ...accepted, ...problems(400, 401, 403, 404, 503), ...IDEMPOTENCY_PROBLEMS },
      },
    },
    async (request, reply) => {
      const { project, run } = request.params as { project: string; run: string };
      const body = request.body as {
        name: string;
        path: string;
        level?: Level;
        metadata?: unknown;
        mode?: StagingMode;
        set?: SetRef;
        rank?: number;
      };
      const file = await openProjectFile(body.path, project, deps.config.allowedDirs);
      try {
        const mode = effectiveMode(deps.blobStore, body.mode);
        const gatewayUid = process.getuid?.();
        if (mode !== "copy" && file.uid !== gatewayUid) {
          throw new Problem(
            "mode-not-allowed",
            `mode ${mode} changes or takes the file itself, so it needs a file of the gateway's user (uid ${gatewayUid}); ${body.path} is owned by uid ${file.uid}: send mode copy`,
            { field: "mode" },
          );
        }
        const { readPath, dev, ino } = file;
        const key = request.headers["idempotency-key"];
        const acceptance = await accept(deps, {
          method: "POST",
          project,
          run,
          name: body.name,
          level: body.level ?? "fit",
          metadata: checkMetadata(body.metadata ?? {}, "metadata"),
          ...(body.set ? { set: body.set } : {}),
          ...(body.rank === undefined ? {} : { rank: body.rank }),
          idempotencyKey: typeof key === "string" ? key : undefined,
          tokenSha256: callerOf(request).sha256,
          // The request is its JSON: the file it names may change, the request stays the same.
          bodySha256: async () => sha256OfJson({ ...body, level: body.level ?? "fit", mode: body.mode ?? null }),
          // A copy reads the opened file itself; a link or move of the path is undone by the store
          // unless it placed that same file.
          stage: (id) =>
            deps.blobStore.stage(
              mode === "copy"
                ? { path: readPath, project, run, id, mode }
                : { path: file.path, project, run, id, mode, sameFile: { readPath, dev, ino } },
            ),
        });
        return sendAcceptance(reply, acceptance);
      } finally {
        await file.handle.close();
      }
    },
  );
}

/**
 * The body's chunks, failing once more than `max` bytes came. Past that point the connection is
 * dropped (the rest of the body is not read), so the client sees no 413 for a chunked body.
 */
async function* limited(body: Readable, max: number): AsyncGenerator<Buffer> {
  let seen = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    seen += chunk.length;
    if (seen > max) throw new Problem("payload-too-large", `the body is over ${max} bytes`);
    yield chunk;
  }
}

/** The mode a file is staged in: the request's, else the store's default; the object store only copies. */
function effectiveMode(store: BlobStore, asked: StagingMode | undefined): StagingMode {
  if (!(store instanceof FsBlobStore)) return "copy";
  return asked ?? store.defaultMode;
}
