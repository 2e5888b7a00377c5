/**
 * What an artifact's bytes go through before its commit: createArtifactManifest (before and
 * after the files), createArtifactFiles (signed single or multipart uploads; content the
 * collection already has needs none) and completeMultipartUploadArtifact (every part, in order,
 * with the ETags its PUTs answered). Refusals are WandbRuleErrors naming what is missing.
 */
import { randomBytes } from "node:crypto";
import type { ArtifactStore } from "./artifact-store.ts";
import type { PartAssembly } from "./part-assembly.ts";
import type { ArtifactRecord, FileRecord, StoredBytes } from "./records.ts";
import { checkB64Md5, checkHexMd5, fail } from "./rules.ts";

type Opt<T> = T | null | undefined;

export const MANIFEST_NAME = "wandb_manifest.json";
/** S3's (and GCS XML's) EntityTooSmall: every part but the last must be at least this big. */
export const MIN_PART_SIZE = 5 << 20;
const MAX_PARTS = 10_000;

export interface CreateManifestInput {
  artifactID: string;
  baseArtifactID?: Opt<string>;
  name: string;
  digest: string;
  entityName: string;
  projectName: string;
  runName: string;
  type?: Opt<string>;
}

export interface FileSpecInput {
  artifactID: string;
  artifactManifestID?: Opt<string>;
  name: string;
  md5: string;
  mimetype?: Opt<string>;
  uploadPartsInput?: Opt<{ partNumber: number; hexMD5: string }[]>;
}

export interface CompleteMultipartInput {
  completeMultipartAction: string;
  completedParts: { partNumber: number; hexMD5: string }[];
  artifactID: string;
  storagePath: string;
  uploadID: string;
}

/** A file answered by createArtifactFiles; `upload` false when the collection already has its bytes. */
export interface FileAnswer {
  artifact: ArtifactRecord;
  file: FileRecord;
  upload: boolean;
}

export class Uploads {
  private readonly store: ArtifactStore;
  private readonly assembly: PartAssembly;

  constructor(store: ArtifactStore, assembly: PartAssembly) {
    this.store = store;
    this.assembly = assembly;
  }

  createArtifactManifest(input: CreateManifestInput): ArtifactRecord {
    const a = this.store.pending(input.artifactID, "createArtifactManifest");
    if (input.entityName !== a.entity || input.projectName !== a.project || input.runName !== a.runName) {
      fail(`entityName/projectName/runName do not match artifact ${a.id} (${a.entity}/${a.project}, run ${a.runName})`);
    }
    if (input.name !== MANIFEST_NAME) fail(`manifest name must be ${MANIFEST_NAME}, got ${JSON.stringify(input.name)}`);
    if (input.type && input.type !== "FULL") {
      fail(`manifest type ${input.type} is not supported by the double (FULL only)`);
    }
    if (input.baseArtifactID) {
      const base = this.store.artifactById(input.baseArtifactID);
      const sameCollection =
        base?.collection === a.collection && base.project === a.project && base.entity === a.entity;
      if (base?.state !== "COMMITTED" || !sameCollection) {
        fail(`baseArtifactID ${input.baseArtifactID} is not a committed version of ${a.collection}`);
      }
    }
    if (input.digest !== "") checkB64Md5("digest", input.digest);
    if (!a.manifest) {
      const file = this.newFile(a, MANIFEST_NAME, input.digest, "application/json");
      a.manifest = { id: this.store.newId("ArtifactManifest").id, file };
      this.store.registerHandle(file.num, a.id, null);
    } else if (a.manifest.file.md5 !== input.digest) {
      a.manifest.file.md5 = input.digest;
      a.manifest.file.stored = null;
    }
    this.store.save(a);
    return a;
  }

  createArtifactFiles(input: { storageLayout: string; artifactFiles: FileSpecInput[] }): FileAnswer[] {
    if (input.storageLayout !== "V2") fail(`storageLayout must be V2, got ${input.storageLayout}`);
    const seen = new Set<string>();
    const checked = input.artifactFiles.map((spec) => {
      const a = this.store.pending(spec.artifactID, "createArtifactFiles");
      if (!a.manifest) {
        fail(`createArtifactFiles on artifact ${a.id} before createArtifactManifest: create the manifest first`);
      }
      if (spec.artifactManifestID !== a.manifest.id) {
        fail(
          `artifactManifestID ${spec.artifactManifestID} is not the manifest of artifact ${a.id} (${a.manifest.id})`,
        );
      }
      if (!spec.name) fail("file name is required");
      if (seen.has(`${a.id}\n${spec.name}`)) fail(`file ${spec.name} is listed twice`);
      seen.add(`${a.id}\n${spec.name}`);
      checkB64Md5(`md5 of ${spec.name}`, spec.md5);
      const parts = spec.uploadPartsInput ?? [];
      if (parts.length > MAX_PARTS) fail(`${spec.name}: at most ${MAX_PARTS} parts`);
      parts.forEach((p, i) => {
        if (p.partNumber !== i + 1) fail(`uploadPartsInput of ${spec.name}: part numbers must run 1..N in order`);
        checkHexMd5(`hexMD5 of part ${p.partNumber} of ${spec.name}`, p.hexMD5);
      });
      return { a, spec, parts };
    });
    const answers = checked.map(({ a, spec, parts }) => {
      const known = this.knownContent(a, spec.md5);
      const old = a.files[spec.name];
      if (old?.multipart) {
        // A new declaration replaces the upload: its parts would only fill the disk.
        this.store.dropUpload(old.multipart.uploadId);
        this.assembly.discard(old.multipart.uploadId);
        this.store.removeBlobs(old.multipart.parts.flatMap((p) => (p.stored ? [p.stored.blob] : [])));
      }
      const file = old ?? this.newFile(a, spec.name, spec.md5, spec.mimetype || "application/octet-stream");
      file.contentType = spec.mimetype || "application/octet-stream";
      file.stored = old?.md5 === spec.md5 ? old.stored : null;
      file.md5 = spec.md5;
      file.multipart = null;
      file.birthArtifactID = a.id;
      a.files[spec.name] = file;
      this.store.registerHandle(file.num, a.id, spec.name);
      if (known) {
        // Content this collection already stores: no upload, and the manifest must name its birth.
        file.birthArtifactID = known.birthArtifactID;
        file.stored = known.stored;
        return { artifact: a, file, upload: false };
      }
      if (parts.length > 0) {
        const uploadId = randomBytes(16).toString("hex");
        const records = parts.map((p) => ({ partNumber: p.partNumber, hexMD5: p.hexMD5, etag: null, stored: null }));
        file.multipart = { uploadId, parts: records, completing: false };
        this.store.registerUpload(uploadId, a.id, spec.name);
      }
      return { artifact: a, file, upload: true };
    });
    this.store.save(...answers.map((x) => x.artifact));
    return answers;
  }

  async completeMultipartUploadArtifact(input: CompleteMultipartInput): Promise<string> {
    const found = this.store.upload(input.uploadID);
    if (!found) fail(`uploadID ${input.uploadID} is unknown, completed, or replaced by a later createArtifactFiles`);
    const { artifact, file } = found;
    this.store.pending(artifact.id, "completeMultipartUploadArtifact");
    const mp = file.multipart!;
    if (input.artifactID !== file.birthArtifactID) {
      fail(`artifactID ${input.artifactID} is not the birth artifact ${file.birthArtifactID} of ${file.path}`);
    }
    if (input.storagePath !== file.storagePath) fail(`storagePath ${input.storagePath} is not that of ${file.path}`);
    if (mp.completing) fail(`the multipart upload of ${file.path} is being completed already`);
    if (input.completedParts.length !== mp.parts.length) {
      fail(
        `completedParts lists ${input.completedParts.length} parts, the upload of ${file.path} has ${mp.parts.length}`,
      );
    }
    mp.parts.forEach((part, i) => {
      const given = input.completedParts[i]!;
      if (given.partNumber !== part.partNumber) fail("completedParts must be ordered by partNumber 1..N");
      if (!part.stored) fail(`part ${part.partNumber} of ${file.path} was never uploaded`);
      if (given.hexMD5 !== part.etag) {
        fail(`part ${part.partNumber}: hexMD5 ${JSON.stringify(given.hexMD5)} is not the ETag ${part.etag} of its PUT`);
      }
      if (i < mp.parts.length - 1 && part.stored.size < MIN_PART_SIZE) {
        fail(
          `part ${part.partNumber} is ${part.stored.size} bytes: all parts but the last need 5 MiB (EntityTooSmall)`,
        );
      }
    });
    mp.completing = true;
    let stored: StoredBytes;
    try {
      stored = await this.assembly.finish(input.uploadID, mp.parts);
    } finally {
      mp.completing = false;
    }
    if (file.multipart?.uploadId !== input.uploadID) {
      this.store.removeBlobs([stored.blob]);
      fail(`the upload of ${file.path} was replaced while completing`);
    }
    if (stored.md5 !== file.md5) {
      this.store.removeBlobs([stored.blob]);
      fail(`the assembled ${file.path} has md5 ${stored.md5}, but ${file.md5} was declared`);
    }
    file.stored = stored;
    file.multipart = null;
    this.store.dropUpload(input.uploadID);
    this.store.save(artifact);
    this.assembly.discard(input.uploadID);
    this.store.removeBlobs(mp.parts.map((p) => p.stored!.blob));
    return stored.md5;
  }

  private newFile(a: ArtifactRecord, path: string, md5: string, contentType: string): FileRecord {
    const { id, num } = this.store.newId("File");
    const storagePath = `wandb_artifacts/${a.id}/${num}/${encodeURIComponent(path)}`;
    return { num, id, path, md5, contentType, storagePath, birthArtifactID: a.id, stored: null, multipart: null };
  }

  /** A stored file of a committed version of the same collection with these bytes. */
  private knownContent(a: ArtifactRecord, md5: string): FileRecord | undefined {
    for (const v of this.store.versions(a.entity, a.project, a.collection)) {
      const f = Object.values(v.files).find((x) => x.stored?.md5 === md5);
      if (f) return f;
    }
    return undefined;
  }
}
