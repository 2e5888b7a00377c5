/**
 * The official clients' GraphQL documents, verbatim (genqlient comment lines left out: they are
 * not sent), from wandb/wandb at commit b6e29505884ea60c79ca12091f1f75bd39d2f955. The double's schema
 * must accept every one of them (shared/test/wandb-double.test.ts checks), so it is at least as
 * permissive as the real server is known to be, while refusing input type names no public source
 * confirms.
 */
import { OFFICIAL_QUERIES } from "./official-queries.ts";

/** One document and where it comes from. */
export interface OfficialDocument {
  source: string;
  query: string;
}

export const OFFICIAL_COMMIT = "b6e29505884ea60c79ca12091f1f75bd39d2f955";

export const OFFICIAL_DOCUMENTS: Record<string, OfficialDocument> = {
  UpsertBucket: {
    source: "core/api/graphql/mutation_run.graphql",
    query: `mutation UpsertBucket(
            $id: String,
            $name: String,
            $project: String,
            $entity: String,
            $groupName: String,
            $description: String,
            $displayName: String,
            $notes: String,
            $commit: String,
            $config: JSONString,
            $host: String,
            $debug: Boolean,
            $program: String,
            $repo: String,
            $jobType: String,
            $state: String,
            $sweep: String,
            $tags: [String!],
            $summaryMetrics: JSONString,
        ) {
            upsertBucket(input: {
                id: $id,
                name: $name,
                groupName: $groupName,
                modelName: $project,
                entityName: $entity,
                description: $description,
                displayName: $displayName,
                notes: $notes,
                config: $config,
                commit: $commit,
                host: $host,
                debug: $debug,
                jobProgram: $program,
                jobRepo: $repo,
                jobType: $jobType,
                state: $state,
                sweep: $sweep,
                tags: $tags,
                summaryMetrics: $summaryMetrics,
            }) {
                bucket {
                    id
                    name
                    displayName
                    description
                    config
                    sweepName
                    project {
                        id
                        name
                        entity {
                            id
                            name
                        }
                    }
                    historyLineCount
                }
                inserted
            }
        }`,
  },
  CreateArtifact: {
    source: "core/api/graphql/mutation_create_artifact.graphql",
    query: `fragment CreatedArtifact on CreateArtifactPayload {
    artifact {
        id
        state
        artifactSequence {
            latestArtifact {
                id
            }
        }
    }
}

mutation CreateArtifact(
    $input: CreateArtifactInput!
) {
    createArtifact(input: $input) {
        ...CreatedArtifact
    }
}`,
  },
  CreateArtifactManifest: {
    source: "core/api/graphql/mutation_create_artifact_manifest.graphql",
    query: `mutation CreateArtifactManifest(
    $artifactID: ID!,
    $baseArtifactID: ID,
    $name: String!,
    $digest: String!,
    $entityName: String!,
    $projectName: String!,
    $runName: String!,
    $manifestType: ArtifactManifestType!,
    $includeUpload: Boolean!,
) {
    createArtifactManifest(input: {
        artifactID: $artifactID,
        baseArtifactID: $baseArtifactID,
        name: $name,
        digest: $digest,
        entityName: $entityName,
        projectName: $projectName,
        runName: $runName,
        type: $manifestType,
    }) {
        artifactManifest {
            id
            file {
                id
                uploadUrl @include(if: $includeUpload)
                uploadHeaders @include(if: $includeUpload)
            }
        }
    }
}`,
  },
  CreateArtifactFiles: {
    source: "core/api/graphql/mutation_create_artifact_files.graphql",
    query: `mutation CreateArtifactFiles(
    $artifactFiles: [CreateArtifactFileSpecInput!]!
    $storageLayout: ArtifactStorageLayout!
) {
    createArtifactFiles(input: {
        artifactFiles: $artifactFiles,
        storageLayout: $storageLayout,
    }) {
        files {
            edges {
                node {
                    storagePath
                    uploadUrl
                    uploadHeaders
                    uploadMultipartUrls {
                        uploadID
                        uploadUrlParts {
                            partNumber
                            uploadUrl
                        }
                    }
                    artifact {
                        id
                    }
                }
            }
        }
    }
}`,
  },
  CompleteMultipartUploadArtifact: {
    source: "core/api/graphql/mutation_complete_multipart_upload_artifact.graphql",
    query: `mutation CompleteMultipartUploadArtifact(
  $completeMultipartAction: CompleteMultipartAction!
  $completedParts: [UploadPartsInput!]!
  $artifactID: ID!
  $storagePath: String!
  $uploadID: String!
) {
  completeMultipartUploadArtifact(
    input: {
      completeMultipartAction: $completeMultipartAction
      completedParts: $completedParts
      artifactID: $artifactID
      storagePath: $storagePath
      uploadID: $uploadID
    }
  ) {
    digest
  }
}`,
  },
  CommitArtifact: {
    source: "core/api/graphql/mutation_commit_artifact.graphql",
    query: `mutation CommitArtifact(
    $artifactID: ID!,
) {
    commitArtifact(input: {
        artifactID: $artifactID,
    }) {
        artifact {
            id
            digest
        }
    }
}`,
  },
  ...OFFICIAL_QUERIES,
};
