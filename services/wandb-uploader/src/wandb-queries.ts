/**
 * The GraphQL documents of the artifact protocol, in the form the official clients send them
 * (wandb/wandb `core/api/graphql/*.graphql`, the Python SDK's `internal_api.py` and
 * `sdk/artifacts/_generated/operations.py`; reference: wandb-artifact-protocol.md).
 *
 * The server's schema is private. The only input type names a public source confirms are those
 * the official documents declare variables of (CreateArtifactInput, CreateArtifactFileSpecInput,
 * UploadPartsInput, ArtifactManifestEntryInput, ...). Where an official document builds the
 * input object inline from scalar variables, so do these: the name of that input type is then
 * never sent, and a wrong guess of it cannot make the real server refuse every upload.
 * Selections are the official ones or a subset of them.
 */

/** Go `mutation_run.graphql` (the variables this uploader sets; the Python public API sends the same subset). */
export const UPSERT_BUCKET = `mutation UpsertBucket($name: String, $project: String, $entity: String) {
  upsertBucket(input: {name: $name, modelName: $project, entityName: $entity}) {
    bucket { id name project { id name entity { id name } } }
    inserted
  }
}`;

/** Go `mutation_create_artifact.graphql`: the one operation that takes a named input type. */
export const CREATE_ARTIFACT = `mutation CreateArtifact($input: CreateArtifactInput!) {
  createArtifact(input: $input) { artifact { id state artifactSequence { latestArtifact { id } } } }
}`;

/** Go `mutation_create_artifact_manifest.graphql`. */
export const CREATE_MANIFEST = `mutation CreateArtifactManifest(
  $artifactID: ID!, $baseArtifactID: ID, $name: String!, $digest: String!, $entityName: String!,
  $projectName: String!, $runName: String!, $manifestType: ArtifactManifestType!, $includeUpload: Boolean!
) {
  createArtifactManifest(input: {
    artifactID: $artifactID, baseArtifactID: $baseArtifactID, name: $name, digest: $digest,
    entityName: $entityName, projectName: $projectName, runName: $runName, type: $manifestType
  }) {
    artifactManifest { id file { id uploadUrl @include(if: $includeUpload) uploadHeaders @include(if: $includeUpload) } }
  }
}`;

/** Go `mutation_create_artifact_files.graphql` (plus id, name, displayName, which the Python client selects). */
export const CREATE_FILES = `mutation CreateArtifactFiles(
  $artifactFiles: [CreateArtifactFileSpecInput!]!, $storageLayout: ArtifactStorageLayout!
) {
  createArtifactFiles(input: {artifactFiles: $artifactFiles, storageLayout: $storageLayout}) {
    files { edges { node {
      id name displayName storagePath uploadUrl uploadHeaders
      uploadMultipartUrls { uploadID uploadUrlParts { partNumber uploadUrl } }
      artifact { id }
    } } }
  }
}`;

/** Go `mutation_complete_multipart_upload_artifact.graphql`. */
export const COMPLETE_MULTIPART = `mutation CompleteMultipartUploadArtifact(
  $completeMultipartAction: CompleteMultipartAction!, $completedParts: [UploadPartsInput!]!,
  $artifactID: ID!, $storagePath: String!, $uploadID: String!
) {
  completeMultipartUploadArtifact(input: {
    completeMultipartAction: $completeMultipartAction, completedParts: $completedParts,
    artifactID: $artifactID, storagePath: $storagePath, uploadID: $uploadID
  }) { digest }
}`;

/** Go `mutation_commit_artifact.graphql`, plus `versionIndex` (an Artifact field the Python fragment selects) for the receipt. */
export const COMMIT_ARTIFACT = `mutation CommitArtifact($artifactID: ID!) {
  commitArtifact(input: {artifactID: $artifactID}) { artifact { id digest versionIndex } }
}`;

/** The breaker's probe: who the key belongs to (Go `query_viewer.graphql`, a subset). */
export const VIEWER = `query Viewer { viewer { id username } }`;

/**
 * A version by name and alias, as `wandb.Api().artifact("entity/project/name:alias")` asks for
 * it (Python `ArtifactMembershipByName`, a subset of its fragment).
 */
export const ARTIFACT_BY_NAME = `query ArtifactMembershipByName($entity: String!, $project: String!, $name: String!) {
  project(name: $project, entityName: $entity) {
    artifactCollectionMembership(name: $name) {
      id versionIndex
      artifact { id digest state versionIndex }
    }
  }
}`;

/** Where the manifest of a version can be downloaded (Go `query_artifact_manifest.graphql`). */
export const ARTIFACT_MANIFEST = `query ArtifactManifest($artifact_id: ID!) {
  artifact(id: $artifact_id) { currentManifest { file { directUrl } } }
}`;

/** Download URLs of a version's files (Go `query_artifact_files_by_manifest_entries.graphql`). */
export const ARTIFACT_FILE_URLS = `query ArtifactFileURLsByManifestEntries(
  $id: ID!, $entries: [ArtifactManifestEntryInput!], $storageLayout: String!, $manifestVersion: String!,
  $storageRegion: String
) {
  artifact(id: $id) {
    filesByManifestEntries(
      storageLayout: $storageLayout, manifestVersion: $manifestVersion, entries: $entries, storageRegion: $storageRegion
    ) {
      pageInfo { hasNextPage endCursor }
      edges { node { name directUrl } }
    }
  }
}`;
