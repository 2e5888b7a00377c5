/**
 * The official clients' GraphQL queries, verbatim: the reads (the viewer; an artifact's manifest,
 * its files' URLs and its collection membership). Part of OFFICIAL_DOCUMENTS in
 * official-documents.ts, which says where they come from; the mutations are there.
 */

export const OFFICIAL_QUERIES = {
  Viewer: {
    source: "core/api/graphql/query_viewer.graphql",
    query: `query Viewer{
    viewer {
        id
        entity
        username
        email
        flags
        teams {
            edges {
                node {
                    name
                }
            }
        }
    }
}`,
  },
  ArtifactManifest: {
    source: "core/api/graphql/query_artifact_manifest.graphql",
    query: `query ArtifactManifest($artifact_id: ID!) {
    artifact(id: $artifact_id) {
        currentManifest {
            file {
                directUrl
            }
        }
    }
}`,
  },
  ArtifactFileURLsByManifestEntries: {
    source: "core/api/graphql/query_artifact_files_by_manifest_entries.graphql",
    query: `query ArtifactFileURLsByManifestEntries(
  $id: ID!
  $entries: [ArtifactManifestEntryInput!]
  $storageLayout: String!
  $manifestVersion: String!
  $storageRegion: String
) {
  artifact(id: $id) {
    filesByManifestEntries(
      storageLayout: $storageLayout
      manifestVersion: $manifestVersion
      entries: $entries
      storageRegion: $storageRegion
    ) {
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          name
          directUrl
        }
      }
    }
  }
}`,
  },
  ArtifactMembershipByName: {
    source: "wandb/sdk/artifacts/_generated/operations.py",
    query: `query ArtifactMembershipByName($entity: String!, $project: String!, $name: String!, $includeAliases: Boolean = false) {
  project(name: $project, entityName: $entity) {
    artifactCollectionMembership(name: $name) {
      ...ArtifactMembershipFragment
    }
  }
}

fragment ArtifactAliasFragment on ArtifactAlias {
  __typename
  id
  alias
}

fragment ArtifactFragment on Artifact {
  __typename
  id
  artifactSequence {
    ...SourceCollectionInfoFragment
  }
  versionIndex
  artifactType {
    name
  }
  description
  metadata
  ttlDurationSeconds
  ttlIsInherited
  tags {
    ...TagFragment
  }
  historyStep
  state
  size
  digest
  commitHash
  fileCount
  createdAt
  updatedAt
  aliases @include(if: $includeAliases) {
    artifactCollection {
      ...CollectionInfoFragment
    }
    ...ArtifactAliasFragment
  }
}

fragment ArtifactMembershipFragment on ArtifactCollectionMembership {
  __typename
  id
  versionIndex
  aliases {
    ...ArtifactAliasFragment
  }
  artifactCollection {
    ...CollectionInfoFragment
  }
  artifact {
    ...ArtifactFragment
  }
}

fragment CollectionInfoFragment on ArtifactCollection {
  __typename
  name
  project {
    ...ProjectInfoFragment
  }
}

fragment ProjectInfoFragment on Project {
  id
  internalId
  name
  entity {
    name
  }
}

fragment SourceCollectionInfoFragment on ArtifactSequence {
  __typename
  name
  project {
    ...ProjectInfoFragment
  }
}

fragment TagFragment on Tag {
  __typename
  id
  name
}`,
  },
};
