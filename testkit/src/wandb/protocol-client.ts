/**
 * A minimal client of the W&B artifact protocol, step by step, for tests of the double and as a
 * reference point for benchmarks ("a direct client of the same protocol"). It speaks exactly the
 * reference's sequence with plain fetch and in-memory bytes; it is not the uploader (no retries,
 * no streaming from disk). Each step is a method, so a test can skip, repeat or bend one.
 */
import { createHash, randomInt } from "node:crypto";
import { manifestDigest } from "./rules.ts";

export { manifestDigest };

const ARTIFACT = "id digest state versionIndex";
const FILE = "id name displayName storagePath uploadUrl uploadHeaders";

/** The operations as the public Go client words them (inputs as variables). */
export const DOCUMENTS = {
  UpsertBucket: `mutation UpsertBucket($name: String, $project: String, $entity: String) {
    upsertBucket(input: {name: $name, modelName: $project, entityName: $entity}) {
      bucket { id name project { id name entity { id name } } } } }`,
  CreateArtifact: `mutation CreateArtifact($input: CreateArtifactInput!) {
    createArtifact(input: $input) { artifact { id state artifactSequence { latestArtifact { id } } } } }`,
  CreateArtifactManifest: `mutation CreateArtifactManifest($artifactID: ID!, $baseArtifactID: ID, $name: String!,
      $digest: String!, $entityName: String!, $projectName: String!, $runName: String!, $includeUpload: Boolean!) {
    createArtifactManifest(input: {artifactID: $artifactID, baseArtifactID: $baseArtifactID, name: $name,
        digest: $digest, entityName: $entityName, projectName: $projectName, runName: $runName, type: FULL}) {
      artifactManifest { id file { id uploadUrl @include(if: $includeUpload) uploadHeaders @include(if: $includeUpload) } } } }`,
  CreateArtifactFiles: `mutation CreateArtifactFiles($artifactFiles: [CreateArtifactFileSpecInput!]!, $storageLayout: ArtifactStorageLayout!) {
    createArtifactFiles(input: {artifactFiles: $artifactFiles, storageLayout: $storageLayout}) {
      files { edges { node { ${FILE} uploadMultipartUrls { uploadID uploadUrlParts { partNumber uploadUrl } } artifact { id } } } } } }`,
  CompleteMultipartUploadArtifact: `mutation CompleteMultipartUploadArtifact($completedParts: [UploadPartsInput!]!,
      $artifactID: ID!, $storagePath: String!, $uploadID: String!) {
    completeMultipartUploadArtifact(input: {completeMultipartAction: Complete, completedParts: $completedParts,
        artifactID: $artifactID, storagePath: $storagePath, uploadID: $uploadID}) { digest } }`,
  CommitArtifact: `mutation CommitArtifact($artifactID: ID!) { commitArtifact(input: {artifactID: $artifactID}) { artifact { ${ARTIFACT} } } }`,
  ArtifactMembershipByName: `query ArtifactMembershipByName($entity: String!, $project: String!, $name: String!) {
    project(name: $project, entityName: $entity) { artifactCollectionMembership(name: $name) { id versionIndex
      artifact { ${ARTIFACT} aliases { alias } artifactType { name } metadata description createdAt } } } }`,
} as const;

export type OperationName = keyof typeof DOCUMENTS;

/** A GraphQL answer that held `errors` (business errors come in a 200). */
export class WandbGraphqlError extends Error {
  override readonly name = "WandbGraphqlError";
  readonly status: number;
  constructor(status: number, messages: string[]) {
    super(`HTTP ${status}: ${messages.join("; ")}`);
    this.status = status;
  }
}

export const b64md5 = (bytes: Buffer | string): string => createHash("md5").update(bytes).digest("base64");
export const hexmd5 = (bytes: Buffer | string): string => createHash("md5").update(bytes).digest("hex");

/** 128 random characters of [a-z0-9], as the clients make clientID and sequenceClientID. */
export function clientId(): string {
  const abc = "abcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from({ length: 128 }, () => abc[randomInt(abc.length)]).join("");
}

/** One file of an artifact; `partSize` makes it go multipart with parts of that size. */
export interface ProtocolFile {
  path: string;
  bytes: Buffer;
  mimetype?: string;
  partSize?: number;
}

/** Where an artifact goes and what it is. */
export interface ArtifactSpec {
  entity: string;
  project: string;
  run: string;
  name: string;
  type: string;
  aliases?: string[];
  metadata?: Record<string, unknown>;
  description?: string;
}

/** The manifest JSON the clients write, with each entry's birth artifact. */
export function manifestJson(files: { path: string; bytes: Buffer; birthArtifactID: string }[]): Buffer {
  const contents: Record<string, unknown> = {};
  for (const f of files)
    contents[f.path] = { digest: b64md5(f.bytes), size: f.bytes.length, birthArtifactID: f.birthArtifactID };
  return Buffer.from(
    JSON.stringify({
      version: 1,
      storagePolicy: "wandb-storage-policy-v1",
      storagePolicyConfig: { storageLayout: "V2" },
      contents,
    }),
  );
}

export const artifactDigest = (files: { path: string; bytes: Buffer }[]): string =>
  manifestDigest(files.map((f) => ({ path: f.path, digest: b64md5(f.bytes) })));

export class WandbProtocolClient {
  readonly baseUrl: string;
  readonly apiKey: string;

  constructor(baseUrl: string, apiKey: string) {
    this.baseUrl = baseUrl;
    this.apiKey = apiKey;
  }

  /** POSTs one operation; `authorization: null` sends none. Returns status and parsed body. */
  async post(
    body: unknown,
    authorization: string | null = this.auth(),
  ): Promise<{ status: number; headers: Headers; body: any }> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (authorization !== null) headers.authorization = authorization;
    const res = await fetch(`${this.baseUrl}/graphql`, { method: "POST", headers, body: JSON.stringify(body) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, headers: res.headers, body: parsed };
  }

  auth(key = this.apiKey): string {
    return `Basic ${Buffer.from(`api:${key}`).toString("base64")}`;
  }

  /** Runs a named operation; throws WandbGraphqlError unless the answer is a 200 without errors. */
  async call(op: OperationName, variables: Record<string, unknown>): Promise<any> {
    const { status, body } = await this.post({ query: DOCUMENTS[op], variables, operationName: op });
    if (status !== 200 || body?.errors) {
      throw new WandbGraphqlError(status, body?.errors?.map((e: { message: string }) => e.message) ?? [String(body)]);
    }
    return body.data;
  }

  async upsertBucket(entity: string, project: string, run: string): Promise<any> {
    return (await this.call("UpsertBucket", { name: run, project, entity })).upsertBucket.bucket;
  }

  /** createArtifact with the Go client's input shape; `override` replaces or adds input fields. */
  async createArtifact(spec: ArtifactSpec, digest: string, override: Record<string, unknown> = {}): Promise<any> {
    const input = {
      entityName: spec.entity,
      projectName: spec.project,
      runName: spec.run,
      artifactTypeName: spec.type,
      artifactCollectionName: spec.name,
      artifactCollectionNames: null,
      digest,
      digestAlgorithm: "MANIFEST_MD5",
      aliases: ["latest", ...(spec.aliases ?? [])].map((alias) => ({ artifactCollectionName: spec.name, alias })),
      description: spec.description ?? null,
      metadata: spec.metadata ? JSON.stringify(spec.metadata) : null,
      clientID: clientId(),
      sequenceClientID: clientId(),
      enableDigestDeduplication: true,
      historyStep: null,
      distributedID: null,
      ttlDurationSeconds: null,
      clientMutationId: null,
      labels: null,
      storageRegion: null,
      ...override,
    };
    return (await this.call("CreateArtifact", { input })).createArtifact.artifact;
  }

  async createManifest(spec: ArtifactSpec, artifactID: string, digest: string, baseArtifactID: string | null = null) {
    const variables = { artifactID, baseArtifactID, name: "wandb_manifest.json", digest, includeUpload: digest !== "" };
    const scope = { entityName: spec.entity, projectName: spec.project, runName: spec.run };
    return (await this.call("CreateArtifactManifest", { ...variables, ...scope })).createArtifactManifest
      .artifactManifest;
  }

  async createFiles(artifactID: string, artifactManifestID: string, files: ProtocolFile[]): Promise<any[]> {
    const artifactFiles = files.map((f) => ({
      artifactID,
      artifactManifestID,
      name: f.path,
      md5: b64md5(f.bytes),
      mimetype: f.mimetype ?? null,
      uploadPartsInput: f.partSize
        ? split(f.bytes, f.partSize).map((p, i) => ({ partNumber: i + 1, hexMD5: hexmd5(p) }))
        : null,
    }));
    const data = await this.call("CreateArtifactFiles", { artifactFiles, storageLayout: "V2" });
    return data.createArtifactFiles.files.edges.map((e: { node: unknown }) => e.node);
  }

  /** PUTs to a signed URL with exactly its uploadHeaders (plus `extra`). */
  async put(url: string, uploadHeaders: string[], body: Buffer, extra: Record<string, string> = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    for (const h of uploadHeaders) {
      const i = h.indexOf(":");
      headers[h.slice(0, i)] = h.slice(i + 1).trim();
    }
    return await fetch(url, { method: "PUT", headers: { ...headers, ...extra }, body });
  }

  /** Uploads one file as createArtifactFiles answered it: skip, one PUT, or parts then complete. */
  async upload(node: any, file: ProtocolFile): Promise<void> {
    if (node.uploadUrl === null) return;
    const mp = node.uploadMultipartUrls;
    if (!mp) return expectOk(await this.put(node.uploadUrl, node.uploadHeaders, file.bytes));
    const type = (node.uploadHeaders as string[]).find((h) => h.startsWith("Content-Type:"));
    const parts = split(file.bytes, file.partSize!);
    const completedParts = [];
    for (const { partNumber, uploadUrl } of mp.uploadUrlParts) {
      const part = parts[partNumber - 1]!;
      const res = await this.put(uploadUrl, [`Content-MD5:${b64md5(part)}`, ...(type ? [type] : [])], part);
      await expectOk(res);
      completedParts.push({ partNumber, hexMD5: res.headers.get("etag") });
    }
    const vars = { completedParts, artifactID: node.artifact.id, storagePath: node.storagePath, uploadID: mp.uploadID };
    await this.call("CompleteMultipartUploadArtifact", vars);
  }

  async commit(artifactID: string): Promise<any> {
    return (await this.call("CommitArtifact", { artifactID })).commitArtifact.artifact;
  }

  /** Step 7 and 8: declares the manifest's digest, then PUTs the manifest bytes. */
  async putManifest(spec: ArtifactSpec, artifactID: string, bytes: Buffer, baseArtifactID: string | null = null) {
    const withUrl = await this.createManifest(spec, artifactID, b64md5(bytes), baseArtifactID);
    await expectOk(await this.put(withUrl.file.uploadUrl, withUrl.file.uploadHeaders, bytes));
  }

  /**
   * Every step of the reference sequence before commitArtifact (the run must exist); stops early
   * when createArtifact answers COMMITTED. `bend` replaces the artifact digest or the manifest
   * bytes a correct client would send, for tests of refusals.
   */
  async prepare(
    spec: ArtifactSpec,
    files: ProtocolFile[],
    bend: { digest?: string; manifest?: Buffer } = {},
  ): Promise<{ id: string; state: string }> {
    const created = await this.createArtifact(spec, bend.digest ?? artifactDigest(files));
    if (created.state === "COMMITTED") return created;
    const base = created.artifactSequence.latestArtifact?.id ?? null;
    const manifest = await this.createManifest(spec, created.id, "", base);
    const nodes = await this.createFiles(created.id, manifest.id, files);
    for (const [i, node] of nodes.entries()) await this.upload(node, files[i]!);
    const births = files.map((f, i) => ({ ...f, birthArtifactID: nodes[i].artifact.id as string }));
    await this.putManifest(spec, created.id, bend.manifest ?? manifestJson(births), base);
    return created;
  }

  /** The whole reference sequence for one version; answers the created (or deduplicated) artifact. */
  async logArtifact(spec: ArtifactSpec, files: ProtocolFile[]): Promise<{ id: string; state: string; digest: string }> {
    await this.upsertBucket(spec.entity, spec.project, spec.run);
    const prepared = await this.prepare(spec, files);
    if (prepared.state === "COMMITTED") return { ...prepared, digest: artifactDigest(files) };
    const committed = await this.commit(prepared.id);
    return { id: committed.id, state: committed.state, digest: committed.digest };
  }
}

/** Throws with the storage's answer unless the PUT succeeded. */
export async function expectOk(res: Response): Promise<void> {
  if (!res.ok) throw new Error(`PUT answered ${res.status}: ${await res.text()}`);
}

function split(bytes: Buffer, size: number): Buffer[] {
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) parts.push(bytes.subarray(at, at + size));
  return parts;
}
