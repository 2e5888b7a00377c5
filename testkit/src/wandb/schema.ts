/**
 * The double's GraphQL schema: exactly the operations, arguments and fields that the official
 * clients' documents use (wandb/wandb `core/api/graphql/*.graphql`, the Python SDK's
 * `internal_api.py` and `sdk/artifacts/_generated/operations.py`; official-documents.ts holds
 * them verbatim), so graphql-js's own validation refuses anything else.
 *
 * The real schema is private. Input type names appear here only when an official document
 * declares a variable of that type, which confirms the name: CreateArtifactInput,
 * CreateArtifactFileSpecInput, UploadPartsInput, ArtifactManifestEntryInput, ArtifactAliasInput,
 * TagInput. The other mutations' inputs are built inline by every official document, so their
 * names were never seen: here they carry names no client could guess (`Unpublished...`), and a
 * client that declares `$input: UpsertBucketInput!` (or CreateArtifactManifestInput,
 * CreateArtifactFilesInput, CommitArtifactInput, CompleteMultipartUploadArtifactInput) is refused
 * with "Unknown type", as the real server would refuse a wrong guess.
 */
import { buildSchema } from "graphql";

const SDL = /* GraphQL */ `
  scalar JSONString
  scalar Int64
  scalar DateTime

  enum ArtifactState { PENDING COMMITTED DELETED }
  enum ArtifactDigestAlgorithm { MANIFEST_MD5 }
  enum ArtifactManifestType { FULL INCREMENTAL PATCH }
  enum ArtifactStorageLayout { V1 V2 }
  enum CompleteMultipartAction { Complete }

  "The key's user (Go query_viewer.graphql)."
  type User {
    id: ID!, entity: String, username: String, email: String, flags: JSONString, teams: EntityConnection
  }
  type EntityConnection { edges: [EntityEdge!]! }
  type EntityEdge { node: Entity }

  type Query {
    viewer: User
    project(name: String, entityName: String): Project
    artifact(id: ID!): Artifact
  }

  type Mutation {
    upsertBucket(input: UnpublishedUpsertBucketInput!): UpsertBucketPayload
    createArtifact(input: CreateArtifactInput!): CreateArtifactPayload
    createArtifactManifest(input: UnpublishedCreateArtifactManifestInput!): CreateArtifactManifestPayload
    createArtifactFiles(input: UnpublishedCreateArtifactFilesInput!): CreateArtifactFilesPayload
    completeMultipartUploadArtifact(
      input: UnpublishedCompleteMultipartUploadArtifactInput!
    ): CompleteMultipartUploadArtifactPayload
    commitArtifact(input: UnpublishedCommitArtifactInput!): CommitArtifactPayload
  }

  "The fields Go mutation_run.graphql sets; the double acts on name, modelName and entityName."
  input UnpublishedUpsertBucketInput {
    id: String, name: String, groupName: String, modelName: String, entityName: String,
    description: String, displayName: String, notes: String, config: JSONString, commit: String,
    host: String, debug: Boolean, jobProgram: String, jobRepo: String, jobType: String,
    state: String, sweep: String, tags: [String!], summaryMetrics: JSONString
  }
  type UpsertBucketPayload { bucket: Run, inserted: Boolean }
  type Run {
    id: ID!, name: String!, displayName: String, description: String, config: JSONString,
    sweepName: String, historyLineCount: Int, project: Project
  }
  type Project {
    id: ID!, internalId: ID, name: String!, entity: Entity!
    "A version by 'name:alias' (vN or any alias), as wandb.Api().artifact() looks it up."
    artifactCollectionMembership(name: String!): ArtifactCollectionMembership
  }
  type Entity { id: ID!, name: String! }

  type ArtifactCollectionMembership {
    id: ID!, versionIndex: Int, aliases: [ArtifactAlias!]!, artifactCollection: ArtifactCollection,
    artifact: Artifact
  }
  type ArtifactCollection { name: String!, project: Project }

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
    description: String, createdAt: DateTime!, updatedAt: DateTime, artifactSequence: ArtifactSequence!,
    ttlDurationSeconds: Int64, ttlIsInherited: Boolean, tags: [Tag!], historyStep: Int64,
    size: Int64, commitHash: String, fileCount: Int64,
    currentManifest: ArtifactManifest
    "Download URLs of the entries named (Go query_artifact_files_by_manifest_entries.graphql)."
    filesByManifestEntries(
      storageLayout: String!, manifestVersion: String!, entries: [ArtifactManifestEntryInput!], storageRegion: String
    ): FileConnection!
  }
  type ArtifactAlias { id: ID, alias: String!, artifactCollection: ArtifactCollection }
  type ArtifactType { name: String! }
  type Tag { id: ID!, name: String! }
  type ArtifactSequence { id: ID!, name: String!, project: Project, latestArtifact: Artifact }
  input ArtifactManifestEntryInput { name: String!, digest: String!, birthArtifactID: String, ref: String, size: Int64 }

  input UnpublishedCreateArtifactManifestInput {
    artifactID: ID!, baseArtifactID: ID, name: String!, digest: String!,
    entityName: String!, projectName: String!, runName: String!, type: ArtifactManifestType
  }
  type CreateArtifactManifestPayload { artifactManifest: ArtifactManifest! }
  type ArtifactManifest { id: ID!, file: File! }
  type File {
    id: ID!, name: String!, displayName: String!, storagePath: String,
    uploadUrl: String, uploadHeaders: [String!], uploadMultipartUrls: UploadMultipartUrls, artifact: Artifact,
    "A signed GET URL of the stored bytes (null until they are stored)."
    directUrl: String
  }
  type UploadMultipartUrls { uploadID: String!, uploadUrlParts: [UploadUrlPart!]! }
  type UploadUrlPart { partNumber: Int64!, uploadUrl: String! }

  input UploadPartsInput { partNumber: Int64!, hexMD5: String! }
  input CreateArtifactFileSpecInput {
    artifactID: ID!, artifactManifestID: ID, name: String!, md5: String!, mimetype: String,
    uploadPartsInput: [UploadPartsInput!]
  }
  input UnpublishedCreateArtifactFilesInput {
    artifactFiles: [CreateArtifactFileSpecInput!]!, storageLayout: ArtifactStorageLayout!
  }
  type CreateArtifactFilesPayload { files: FileConnection! }
  type FileConnection { pageInfo: PageInfo!, edges: [FileEdge!]! }
  type PageInfo { hasNextPage: Boolean!, endCursor: String }
  type FileEdge { node: File }

  input UnpublishedCompleteMultipartUploadArtifactInput {
    completeMultipartAction: CompleteMultipartAction!, completedParts: [UploadPartsInput!]!,
    artifactID: ID!, storagePath: String!, uploadID: String!
  }
  type CompleteMultipartUploadArtifactPayload { digest: String }

  input UnpublishedCommitArtifactInput { artifactID: ID! }
  type CommitArtifactPayload { artifact: Artifact! }
`;

/** The executable schema (resolvers come as the root value: graphql-api.ts). */
export const schema = buildSchema(SDL);
