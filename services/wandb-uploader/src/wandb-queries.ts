/**
 * The GraphQL documents of the artifact protocol, with the fields the public clients select
 * (reference: wandb-artifact-protocol.md). Inputs travel as one `$input` variable each.
 */

export const UPSERT_BUCKET = `mutation UpsertBucket($input: UpsertBucketInput!) {
  upsertBucket(input: $input) { bucket { id name project { id name entity { id name } } } }
}`;

export const CREATE_ARTIFACT = `mutation CreateArtifact($input: CreateArtifactInput!) {
  createArtifact(input: $input) { artifact { id state artifactSequence { latestArtifact { id } } } }
}`;

export const CREATE_MANIFEST = `mutation CreateArtifactManifest($input: CreateArtifactManifestInput!, $includeUpload: Boolean!) {
  createArtifactManifest(input: $input) {
    artifactManifest { id file { id uploadUrl @include(if: $includeUpload) uploadHeaders @include(if: $includeUpload) } }
  }
}`;

export const CREATE_FILES = `mutation CreateArtifactFiles($input: CreateArtifactFilesInput!) {
  createArtifactFiles(input: $input) {
    files { edges { node {
      id name displayName storagePath uploadUrl uploadHeaders
      uploadMultipartUrls { uploadID uploadUrlParts { partNumber uploadUrl } }
      artifact { id }
    } } }
  }
}`;

export const COMPLETE_MULTIPART = `mutation CompleteMultipartUploadArtifact($input: CompleteMultipartUploadArtifactInput!) {
  completeMultipartUploadArtifact(input: $input) { digest }
}`;

export const COMMIT_ARTIFACT = `mutation CommitArtifact($input: CommitArtifactInput!) {
  commitArtifact(input: $input) { artifact { id digest versionIndex } }
}`;

/** The breaker's probe: who the key belongs to (a cheap authenticated read). */
export const VIEWER = `query Viewer { viewer { id username } }`;
