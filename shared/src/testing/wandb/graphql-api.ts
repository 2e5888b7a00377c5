/**
 * The double's GraphQL API: an SDL schema holding exactly the operations, arguments and fields
 * that the protocol reference (and the public Go and Python clients it cites) use, so graphql-js's
 * own validation refuses anything else, and resolvers that hand the work to Versions and Uploads.
 * Input types take both clients' shapes: the Go client's every-field-with-nulls input and the
 * Python client's `artifactCollectionNames: [name]`.
 */
import { buildSchema, execute, type GraphQLError, getOperationAST, parse, validate } from "graphql";
import type { ArtifactRecord, ArtifactStore, FileRecord } from "./artifact-store.ts";
import type { SignedStorage } from "./signed-storage.ts";
import type { FileAnswer, Uploads } from "./uploads.ts";
import type { Versions } from "./versions.ts";

const SDL = /* GraphQL */ `
  scalar JSONString
  scalar Int64
  scalar DateTime

  enum ArtifactState { PENDING COMMITTED DELETED }
  enum ArtifactDigestAlgorithm { MANIFEST_MD5 }
  enum ArtifactManifestType { FULL INCREMENTAL PATCH }
  enum ArtifactStorageLayout { V1 V2 }
  enum CompleteMultipartAction { Complete }

  "The key's user (the public clients' Viewer query): what a client asks to check its key."
  type User { id: ID!, username: String }

  type Query {
    viewer: User
    "An artifact version by 'entity/project/name:alias' (vN or any alias), like the public API's."
    artifact(name: String!): Artifact
  }

  type Mutation {
    upsertBucket(input: UpsertBucketInput!): UpsertBucketPayload
    createArtifact(input: CreateArtifactInput!): CreateArtifactPayload
    createArtifactManifest(input: CreateArtifactManifestInput!): CreateArtifactManifestPayload
    createArtifactFiles(input: CreateArtifactFilesInput!): CreateArtifactFilesPayload
    completeMultipartUploadArtifact(input: CompleteMultipartUploadArtifactInput!): CompleteMultipartUploadArtifactPayload
    commitArtifact(input: CommitArtifactInput!): CommitArtifactPayload
  }

  input UpsertBucketInput { name: String, modelName: String, entityName: String }
  type UpsertBucketPayload { bucket: Run }
  type Run { id: ID!, name: String!, project: Project }
  type Project { id: ID!, name: String!, entity: Entity! }
  type Entity { id: ID!, name: String! }

  input ArtifactAliasInput { artifactCollectionName: String!, alias: String! }
  input TagInput { tagName: String!, tagCategoryName: String, attributes: JSONString }
  input CreateArtifactInput {
    entityName: String!, projectName: String!, runName: String, artifactTypeName: String!,
    artifactCollectionName: String, artifactCollectionNames: [String!],
    digest: String!, digestAlgorithm: ArtifactDigestAlgorithm,
    aliases: [ArtifactAliasInput!], tags: [TagInput!], description: String, metadata: JSONString,
    clientID: ID, sequenceClientID: ID, enableDigestDeduplication: Boolean,
    historyStep: Int64, distributedID: String, ttlDurationSeconds: Int64,
    storageRegion: String, labels: JSONString, clientMutationId: String
  }
  type CreateArtifactPayload { artifact: Artifact! }
  type Artifact {
    id: ID!, digest: String!, state: ArtifactState!, versionIndex: Int,
    aliases: [ArtifactAlias!]!, artifactType: ArtifactType!, metadata: JSONString,
    description: String, createdAt: DateTime!, artifactSequence: ArtifactSequence!
  }
  type ArtifactAlias { alias: String! }
  type ArtifactType { name: String! }
  type ArtifactSequence { id: ID!, name: String!, latestArtifact: Artifact }

  input CreateArtifactManifestInput {
    artifactID: ID!, baseArtifactID: ID, name: String!, digest: String!,
    entityName: String!, projectName: String!, runName: String!, type: ArtifactManifestType
  }
  type CreateArtifactManifestPayload { artifactManifest: ArtifactManifest! }
  type ArtifactManifest { id: ID!, file: File! }
  type File {
    id: ID!, name: String!, displayName: String!, storagePath: String,
    uploadUrl: String, uploadHeaders: [String!], uploadMultipartUrls: UploadMultipartUrls, artifact: Artifact
  }
  type UploadMultipartUrls { uploadID: String!, uploadUrlParts: [UploadUrlPart!]! }
  type UploadUrlPart { partNumber: Int64!, uploadUrl: String! }

  input UploadPartsInput { partNumber: Int64!, hexMD5: String! }
  input CreateArtifactFileSpecInput {
    artifactID: ID!, artifactManifestID: ID, name: String!, md5: String!, mimetype: String,
    uploadPartsInput: [UploadPartsInput!]
  }
  input CreateArtifactFilesInput { artifactFiles: [CreateArtifactFileSpecInput!]!, storageLayout: ArtifactStorageLayout! }
  type CreateArtifactFilesPayload { files: FileConnection! }
  type FileConnection { edges: [FileEdge!]! }
  type FileEdge { node: File }

  input CompleteMultipartUploadArtifactInput {
    completeMultipartAction: CompleteMultipartAction!, completedParts: [UploadPartsInput!]!,
    artifactID: ID!, storagePath: String!, uploadID: String!
  }
  type CompleteMultipartUploadArtifactPayload { digest: String }

  input CommitArtifactInput { artifactID: ID! }
  type CommitArtifactPayload { artifact: Artifact! }
`;

const schema = buildSchema(SDL);

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
      viewer: () => ({ id: "viewer", username: "api" }),
      artifact: ({ name }: { name: string }) => {
        const a = this.store.resolve(name);
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
    const invalid = validate(schema, document);
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

  private artifact(a: ArtifactRecord): Record<string, unknown> {
    return {
      id: a.id,
      digest: a.digest,
      state: a.state,
      versionIndex: a.versionIndex,
      aliases: a.aliases.map((alias) => ({ alias })),
      artifactType: { name: a.type },
      metadata: JSON.stringify(a.metadata),
      description: a.description,
      createdAt: a.createdAt,
      artifactSequence: () => ({
        id: Buffer.from(`ArtifactSequence:${a.entity}/${a.project}/${a.collection}`).toString("base64"),
        name: a.collection,
        latestArtifact: () => {
          const latest = this.versions.latest(a);
          return latest ? this.artifact(latest) : null;
        },
      }),
    };
  }

  private manifestFile(a: ArtifactRecord, file: FileRecord): Record<string, unknown> {
    // The first call (digest "") has nothing to upload yet; the second one signs the manifest's URL.
    const upload = file.md5 !== "";
    return {
      ...this.fileBase(file),
      uploadUrl: () => (upload ? this.storage.fileUrl(file) : null),
      uploadHeaders: upload ? [`Content-MD5:${file.md5}`, `Content-Type:${file.contentType}`] : [],
      uploadMultipartUrls: null,
      artifact: () => this.artifact(a),
    };
  }

  private file({ file, upload }: FileAnswer): Record<string, unknown> {
    const mp = upload ? file.multipart : null;
    return {
      ...this.fileBase(file),
      uploadUrl: () => (upload ? this.storage.fileUrl(file) : null),
      uploadHeaders: upload ? [`Content-MD5:${file.md5}`, `Content-Type:${file.contentType}`] : [],
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
