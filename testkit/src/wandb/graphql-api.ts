/**
 * The double's GraphQL API: requests validated against schema.ts (exactly what the official
 * clients send), and resolvers that hand the work to Versions and Uploads, or read versions back
 * as `wandb.Api().artifact()` and the Go downloader do (by name and alias, the manifest's and the
 * files' signed download URLs). Input types take both clients' shapes: the Go client's
 * every-field-with-nulls input and the Python client's `artifactCollectionNames: [name]`.
 */
import { execute, type GraphQLError, getOperationAST, parse, validate } from "graphql";
import type { ArtifactStore } from "./artifact-store.ts";
import type { ArtifactRecord, FileRecord } from "./records.ts";
import { fail } from "./rules.ts";
import { schema } from "./schema.ts";
import type { SignedStorage } from "./signed-storage.ts";
import type { FileAnswer, Uploads } from "./uploads.ts";
import type { Versions } from "./versions.ts";

type ManifestEntriesArgs = {
  storageLayout: string;
  manifestVersion: string;
  entries?: { name: string; digest: string; birthArtifactID?: string | null }[] | null;
};

/** An HTTP answer: 200 for an executed operation (business errors inside), 400 for a bad request. */
export interface GraphqlAnswer {
  status: number;
  body: unknown;
}

const badRequest = (...messages: string[]): GraphqlAnswer => ({
  status: 400,
  body: { errors: messages.map((message) => ({ message })) },
});

/** The operation a request body names (or its document's only operation), for faults and records. */
export function operationNameOf(body: unknown): string | undefined {
  const b = body as { query?: unknown; operationName?: unknown } | null;
  if (typeof b?.operationName === "string") return b.operationName;
  if (typeof b?.query !== "string") return undefined;
  try {
    return getOperationAST(parse(b.query))?.name?.value;
  } catch {
    return undefined;
  }
}

export class GraphqlApi {
  private readonly root: Record<string, (args: any) => unknown>;
  private readonly store: ArtifactStore;
  private readonly versions: Versions;
  private readonly uploads: Uploads;
  private readonly storage: SignedStorage;

  constructor(store: ArtifactStore, versions: Versions, uploads: Uploads, storage: SignedStorage) {
    this.store = store;
    this.versions = versions;
    this.uploads = uploads;
    this.storage = storage;
    this.root = {
      // Any accepted key answers: the double ties keys to no user or entity.
      viewer: () => ({ id: "viewer", username: "api", entity: null, email: null, flags: null, teams: { edges: [] } }),
      project: ({ name, entityName }: { name?: string | null; entityName?: string | null }) =>
        name && entityName ? this.project(entityName, name) : null,
      artifact: ({ id }: { id: string }) => {
        const a = this.store.artifactById(id);
        return a ? this.artifact(a) : null;
      },
      upsertBucket: ({ input }) => ({ bucket: this.versions.upsertBucket(input) }),
      createArtifact: ({ input }) => ({ artifact: this.artifact(this.versions.createArtifact(input)) }),
      createArtifactManifest: ({ input }) => {
        const a = this.uploads.createArtifactManifest(input);
        return { artifactManifest: { id: a.manifest!.id, file: this.manifestFile(a, a.manifest!.file) } };
      },
      createArtifactFiles: ({ input }) => ({
        files: { edges: this.uploads.createArtifactFiles(input).map((f) => ({ node: this.file(f) })) },
      }),
      completeMultipartUploadArtifact: async ({ input }) => ({
        digest: await this.uploads.completeMultipartUploadArtifact(input),
      }),
      commitArtifact: ({ input }) => ({ artifact: this.artifact(this.versions.commitArtifact(input)) }),
    };
  }

  /** Parses, validates and executes one request body (already JSON-decoded). */
  async run(body: unknown): Promise<GraphqlAnswer> {
    const b = body as { query?: unknown; variables?: unknown; operationName?: unknown } | null;
    if (b === null || typeof b !== "object" || Array.isArray(b)) return badRequest("the body must be a JSON object");
    if (typeof b.query !== "string") return badRequest("query must be a string");
    if (b.variables != null && (typeof b.variables !== "object" || Array.isArray(b.variables))) {
      return badRequest("variables must be an object");
    }
    if (b.operationName != null && typeof b.operationName !== "string") {
      return badRequest("operationName must be a string");
    }
    let document: ReturnType<typeof parse>;
    try {
      document = parse(b.query);
    } catch (err) {
      return { status: 400, body: { errors: [(err as GraphQLError).toJSON()] } };
    }
    // No "Did you mean ...": the real server would not suggest the double's stand-in type names.
    const invalid = validate(schema, document, undefined, { hideSuggestions: true });
    if (invalid.length > 0) return { status: 400, body: { errors: invalid.map((e) => e.toJSON()) } };
    const result = await execute({
      schema,
      document,
      rootValue: this.root,
      variableValues: (b.variables ?? {}) as Record<string, unknown>,
      operationName: (b.operationName as string | null) ?? undefined,
    });
    // No `data` at all: the request itself was wrong (variables of the wrong type, no such operation).
    const status = result.data === undefined ? 400 : 200;
    return { status, body: { ...result, errors: result.errors?.map((e) => e.toJSON()) } };
  }

  /** A project that a run created, or null; its memberships resolve "name:alias" like the public API. */
  private project(entity: string, name: string): Record<string, unknown> | null {
    const p = this.store.project(entity, name);
    if (!p) return null;
    return {
      id: p.id,
      internalId: p.id,
      name,
      entity: { id: p.entityId, name: entity },
      artifactCollectionMembership: ({ name: ref }: { name: string }) => {
        const a = /^[^/:]+(:[^/:]+)?$/.test(ref) ? this.store.resolve(`${entity}/${name}/${ref}`) : undefined;
        if (!a) return null;
        return {
          id: Buffer.from(`ArtifactCollectionMembership:${a.id}`).toString("base64"),
          versionIndex: a.versionIndex,
          aliases: this.aliases(a),
          artifactCollection: this.collection(a),
          artifact: this.artifact(a),
        };
      },
    };
  }

  private collection(a: ArtifactRecord) {
    return { name: a.collection, project: () => this.project(a.entity, a.project) };
  }

  private aliases(a: ArtifactRecord) {
    return a.aliases.map((alias) => ({
      id: Buffer.from(`ArtifactAlias:${a.id}:${alias}`).toString("base64"),
      alias,
      artifactCollection: () => this.collection(a),
    }));
  }

  private artifact(a: ArtifactRecord): Record<string, unknown> {
    const stored = Object.values(a.files).filter((f) => f.stored);
    return {
      id: a.id,
      digest: a.digest,
      state: a.state,
      versionIndex: a.versionIndex,
      aliases: this.aliases(a),
      artifactType: { name: a.type },
      metadata: JSON.stringify(a.metadata),
      description: a.description,
      createdAt: a.createdAt,
      updatedAt: a.createdAt,
      ttlDurationSeconds: null,
      ttlIsInherited: true,
      tags: [],
      historyStep: null,
      size: stored.reduce((sum, f) => sum + f.stored!.size, 0),
      commitHash: null,
      fileCount: stored.length,
      currentManifest: () => {
        const mf = a.state === "COMMITTED" ? a.manifest : null;
        return mf && { id: mf.id, file: { ...this.fileBase(mf.file), directUrl: this.storage.downloadUrl(mf.file) } };
      },
      filesByManifestEntries: (args: ManifestEntriesArgs) => this.filesByManifestEntries(a, args),
      artifactSequence: () => ({
        id: Buffer.from(`ArtifactSequence:${a.entity}/${a.project}/${a.collection}`).toString("base64"),
        name: a.collection,
        project: () => this.project(a.entity, a.project),
        latestArtifact: () => {
          const latest = this.versions.latest(a);
          return latest ? this.artifact(latest) : null;
        },
      }),
    };
  }

  /**
   * Download URLs of the entries asked for, as the Go downloader asks: each must be a stored file
   * of this committed version with the manifest's digest (and birth, when given).
   */
  private filesByManifestEntries(a: ArtifactRecord, args: ManifestEntriesArgs): Record<string, unknown> {
    if (a.state !== "COMMITTED") fail(`artifact ${a.id} is not committed: its files cannot be read yet`);
    if (args.storageLayout !== "V2") fail(`storageLayout ${args.storageLayout}: the double stores V2 only`);
    if (args.manifestVersion !== "1") fail(`manifestVersion ${args.manifestVersion}: the double knows version 1`);
    const edges = (args.entries ?? []).map((e) => {
      const f = a.files[e.name];
      if (!f?.stored) fail(`artifact ${a.id} has no file ${JSON.stringify(e.name)}`);
      if (e.digest !== f.stored.md5) fail(`entry ${e.name}: digest ${e.digest} is not the stored ${f.stored.md5}`);
      if (e.birthArtifactID != null && e.birthArtifactID !== f.birthArtifactID) {
        fail(`entry ${e.name}: birthArtifactID ${e.birthArtifactID} is not ${f.birthArtifactID}`);
      }
      return { node: { ...this.fileBase(f), directUrl: this.storage.downloadUrl(f) } };
    });
    return { pageInfo: { hasNextPage: false, endCursor: null }, edges };
  }

  private manifestFile(a: ArtifactRecord, file: FileRecord): Record<string, unknown> {
    // The first call (digest "") has nothing to upload yet; the second one signs the manifest's URL.
    const upload = file.md5 !== "";
    return {
      ...this.fileBase(file),
      uploadUrl: () => (upload ? this.storage.fileUrl(file) : null),
      uploadHeaders: upload ? [`Content-MD5:${file.md5}`, `Content-Type:${file.contentType}`] : [],
      uploadMultipartUrls: null,
      directUrl: () => (file.stored ? this.storage.downloadUrl(file) : null),
      artifact: () => this.artifact(a),
    };
  }

  private file({ file, upload }: FileAnswer): Record<string, unknown> {
    const mp = upload ? file.multipart : null;
    return {
      ...this.fileBase(file),
      uploadUrl: () => (upload ? this.storage.fileUrl(file) : null),
      uploadHeaders: upload ? [`Content-MD5:${file.md5}`, `Content-Type:${file.contentType}`] : [],
      directUrl: () => (file.stored ? this.storage.downloadUrl(file) : null),
      uploadMultipartUrls: mp && {
        uploadID: mp.uploadId,
        uploadUrlParts: () =>
          mp.parts.map((p) => ({
            partNumber: p.partNumber,
            uploadUrl: this.storage.partUrl(mp.uploadId, p.partNumber),
          })),
      },
      // The entry's birth artifact: this one, or the older version whose bytes it reuses.
      artifact: () => {
        const birth = this.store.artifactById(file.birthArtifactID);
        return birth ? this.artifact(birth) : null;
      },
    };
  }

  private fileBase(file: FileRecord) {
    return { id: file.id, name: file.path, displayName: file.path, storagePath: file.storagePath };
  }
}
