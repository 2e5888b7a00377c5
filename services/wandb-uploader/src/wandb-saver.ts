/**
 * Saves one file as a new version of a W&B artifact attached to a run, in the order of the
 * reference (wandb-artifact-protocol.md): upsertBucket (once per run: wandb-runs.ts), createArtifact (COMMITTED: the same
 * content exists, done), the manifest's first record, createArtifactFiles, the PUT(s), the
 * manifest itself, commitArtifact.
 */
import { randomBytes } from "node:crypto";
import { PermanentError } from "@artifact-bus/shared";
import type { WandbApi } from "./wandb-api.ts";
import { manifestDigest, manifestJson, md5Base64 } from "./wandb-digest.ts";
import {
  COMMIT_ARTIFACT,
  COMPLETE_MULTIPART,
  CREATE_ARTIFACT,
  CREATE_FILES,
  CREATE_MANIFEST,
} from "./wandb-queries.ts";
import { WandbRuns } from "./wandb-runs.ts";
import { parseUploadHeaders, type SignedStorage } from "./wandb-storage.ts";

/** One file to save, its MD5s known (a first read of the blob computed them). */
export interface FileVersion {
  entity: string;
  project: string;
  run: string;
  artifactName: string;
  type: string;
  aliases: string[];
  metadata: Record<string, string>;
  /** Path of the file inside the artifact. */
  path: string;
  size: number;
  /** base64 MD5 of the whole file. */
  md5: string;
  /** For a multipart upload: the hex MD5 of each part, and the part size. */
  parts?: { size: number; hexMd5: string[] };
  /** Sends the file (or part `partNumber` of it, from 1) to a signed URL. */
  send(url: string, headers: Record<string, string>, part?: number): Promise<string | undefined>;
  /**
   * Runs right before each step that may make something visible, and may throw: commitArtifact,
   * and createArtifact too, which for content W&B has already (dedup) applies the aliases at once.
   */
  beforeVisible(): Promise<void>;
}

export interface SavedVersion {
  artifactId: string;
  digest: string;
  /** Known when this save committed it; undefined when W&B had the same content already. */
  versionIndex?: number;
  deduplicated: boolean;
}

type Edge = {
  node: {
    uploadUrl: string | null;
    uploadHeaders: string[] | null;
    storagePath: string | null;
    uploadMultipartUrls: { uploadID: string; uploadUrlParts: { partNumber: number; uploadUrl: string }[] } | null;
    artifact: { id: string };
  };
};

export class WandbSaver {
  private readonly api: WandbApi;
  private readonly storage: SignedStorage;
  private readonly runs: WandbRuns;

  constructor(api: WandbApi, storage: SignedStorage) {
    this.api = api;
    this.storage = storage;
    this.runs = new WandbRuns(api);
  }

  async save(f: FileVersion, signal: AbortSignal): Promise<SavedVersion> {
    const call = <T>(op: string, query: string, variables: object) => this.api.request<T>(op, query, variables, signal);
    const where = { entityName: f.entity, projectName: f.project, runName: f.run };
    await this.runs.ensure(f, signal);
    const digest = manifestDigest({ [f.path]: f.md5 });
    await f.beforeVisible();
    const created = call<{ createArtifact: { artifact: CreatedArtifact } }>("CreateArtifact", CREATE_ARTIFACT, {
      input: {
        ...where,
        artifactTypeName: f.type,
        artifactCollectionName: f.artifactName,
        digest,
        digestAlgorithm: "MANIFEST_MD5",
        aliases: f.aliases.map((alias) => ({ artifactCollectionName: f.artifactName, alias })),
        metadata: JSON.stringify(f.metadata),
        clientID: clientId(),
        sequenceClientID: clientId(),
        enableDigestDeduplication: true,
      },
    });
    // A refusal may mean the run was deleted in W&B since this process created it: ask again next time.
    const { createArtifact } = await created.catch((err: unknown) => {
      this.runs.forget(f);
      throw err;
    });
    const artifact = createArtifact.artifact;
    if (artifact.state === "COMMITTED") return { artifactId: artifact.id, digest, deduplicated: true };
    if (artifact.state !== "PENDING" && artifact.state !== "DELETED") {
      throw new PermanentError(`W&B CreateArtifact: unexpected state ${artifact.state}`);
    }
    const manifestInput = {
      ...where,
      artifactID: artifact.id,
      baseArtifactID: artifact.artifactSequence?.latestArtifact?.id ?? null,
      name: "wandb_manifest.json",
      manifestType: "FULL",
    };
    const manifest = await this.manifest(call, { ...manifestInput, digest: "" }, false);
    const { createArtifactFiles } = await call<{ createArtifactFiles: { files: { edges: Edge[] } } }>(
      "CreateArtifactFiles",
      CREATE_FILES,
      {
        storageLayout: "V2",
        artifactFiles: [
          {
            artifactID: artifact.id,
            artifactManifestID: manifest.id,
            name: f.path,
            md5: f.md5,
            mimetype: null,
            uploadPartsInput: f.parts ? f.parts.hexMd5.map((hexMD5, i) => ({ partNumber: i + 1, hexMD5 })) : null,
          },
        ],
      },
    );
    const [edge] = createArtifactFiles.files.edges;
    if (!edge || createArtifactFiles.files.edges.length !== 1)
      throw new PermanentError("W&B CreateArtifactFiles: not one file back");
    const node = edge.node;
    // A null uploadUrl: the server has these bytes already.
    if (node.uploadUrl) {
      if (f.parts && node.uploadMultipartUrls) await this.multipart(call, f, node);
      else await f.send(node.uploadUrl, parseUploadHeaders(node.uploadHeaders));
    }
    const bytes = Buffer.from(
      manifestJson({ [f.path]: { digest: f.md5, size: f.size, birthArtifactID: node.artifact.id } }),
    );
    const upload = await this.manifest(call, { ...manifestInput, digest: md5Base64(bytes) }, true);
    if (!upload.file.uploadUrl) throw new PermanentError("W&B CreateArtifactManifest: no upload URL for the manifest");
    await this.storage.put(
      upload.file.uploadUrl,
      parseUploadHeaders(upload.file.uploadHeaders),
      bytes,
      signal,
      "manifest",
    );
    await f.beforeVisible();
    const { commitArtifact } = await call<{
      commitArtifact: { artifact: { id: string; digest: string; versionIndex: number | null } };
    }>("CommitArtifact", COMMIT_ARTIFACT, { artifactID: artifact.id });
    const committed = commitArtifact.artifact;
    return {
      artifactId: committed.id,
      digest: committed.digest,
      deduplicated: false,
      ...(typeof committed.versionIndex === "number" ? { versionIndex: committed.versionIndex } : {}),
    };
  }

  private async manifest(call: Call, input: object, includeUpload: boolean): Promise<ManifestRecord> {
    type Answer = { createArtifactManifest: { artifactManifest: ManifestRecord } };
    const answer = await call<Answer>("CreateArtifactManifest", CREATE_MANIFEST, { ...input, includeUpload });
    return answer.createArtifactManifest.artifactManifest;
  }

  private async multipart(call: Call, f: FileVersion, node: Edge["node"]): Promise<void> {
    const urls = node.uploadMultipartUrls!;
    const parts = [...urls.uploadUrlParts].sort((a, b) => a.partNumber - b.partNumber);
    if (parts.length !== f.parts!.hexMd5.length)
      throw new PermanentError("W&B multipart: part URLs do not match the parts");
    const contentType = parseUploadHeaders(node.uploadHeaders)["content-type"] ?? "";
    const completedParts: { partNumber: number; hexMD5: string }[] = [];
    for (const p of parts) {
      const md5 = Buffer.from(f.parts!.hexMd5[p.partNumber - 1]!, "hex").toString("base64");
      const etag = await f.send(p.uploadUrl, { "content-md5": md5, "content-type": contentType }, p.partNumber);
      if (!etag) throw new PermanentError(`W&B multipart: part ${p.partNumber} answered without an ETag`);
      completedParts.push({ partNumber: p.partNumber, hexMD5: etag });
    }
    await call("CompleteMultipartUploadArtifact", COMPLETE_MULTIPART, {
      completeMultipartAction: "Complete",
      completedParts,
      artifactID: node.artifact.id,
      storagePath: node.storagePath,
      uploadID: urls.uploadID,
    });
  }
}

type Call = <T>(op: string, query: string, variables: object) => Promise<T>;
type CreatedArtifact = {
  id: string;
  state: string;
  artifactSequence: { latestArtifact: { id: string } | null } | null;
};
type ManifestRecord = { id: string; file: { id: string; uploadUrl?: string | null; uploadHeaders?: string[] | null } };

/** 128 random characters of [a-z0-9], as the clients send for clientID and sequenceClientID. */
function clientId(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  return [...randomBytes(128)].map((b) => alphabet[b % 36]).join("");
}
