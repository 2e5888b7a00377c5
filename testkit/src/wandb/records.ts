/**
 * The records the W&B API double keeps (runs, artifacts with their files and manifest, multipart
 * uploads' parts, the bytes stored for each): plain JSON-able shapes, journaled and replayed by
 * artifact-store.ts as they are.
 */

/** Bytes kept on disk: `blob` is a file name under `<dataDir>/blobs`. */
export interface StoredBytes {
  size: number;
  md5: string; // base64
  sha256: string; // hex
  blob: string;
}

export interface PartRecord {
  partNumber: number;
  hexMD5: string;
  /** The ETag answered to the part's PUT, exactly as sent (quoted). */
  etag: string | null;
  stored: StoredBytes | null;
}

export interface FileRecord {
  /** Numeric handle used in signed URLs. */
  num: number;
  id: string;
  path: string;
  /** Declared base64 MD5. */
  md5: string;
  contentType: string;
  storagePath: string;
  birthArtifactID: string;
  stored: StoredBytes | null;
  multipart: { uploadId: string; parts: PartRecord[]; completing: boolean } | null;
}

export interface ManifestRecord {
  id: string;
  /** The manifest's own file: path "wandb_manifest.json", md5 "" until the second create call. */
  file: FileRecord;
}

export interface ArtifactRecord {
  id: string;
  entity: string;
  project: string;
  collection: string;
  type: string;
  digest: string;
  state: "PENDING" | "COMMITTED";
  versionIndex: number | null;
  /** Aliases asked for at creation, applied at commit. */
  requestedAliases: string[];
  /** Aliases held now. */
  aliases: string[];
  metadata: Record<string, unknown>;
  description: string | null;
  runName: string;
  createdAt: string;
  manifest: ManifestRecord | null;
  files: Record<string, FileRecord>;
}

export interface RunRecord {
  id: string;
  name: string;
  entity: string;
  project: string;
}
