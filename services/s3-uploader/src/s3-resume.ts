/**
 * What an S3 multipart upload saves to resume (ctx.resume), and how a takeover decides what of
 * it to trust: the upload id, and per completed part its number, size, ETag and SHA-256. The
 * server is asked (ListParts) which parts it holds; a recorded part counts only if the server
 * has it with the same size and ETag, and is then skipped only if the staged bytes of that part
 * hash to the recorded SHA-256 (uploadParts re-reads them: local reads are cheap). The reader's
 * end-to-end check of the whole blob still runs before CompleteMultipartUpload.
 */
import type { Logger } from "@artifact-bus/shared";
import { ListPartsCommand, type S3Client } from "@aws-sdk/client-s3";
import { s3Error, s3ErrorCode, s3HttpStatus } from "./s3-errors.ts";

/** One completed part: [number, size, ETag without quotes, SHA-256 base64]. */
export type SavedPart = [number, number, string, string];

/** The saved state (kept small: a part is ~100 bytes of JSON). */
export type S3ResumeState = {
  kind: "s3-multipart";
  uploadId: string;
  key: string;
  size: number;
  partSize: number;
  parts: SavedPart[];
};

export interface PartRecord {
  size: number;
  etag: string;
  sha256: string;
}

/** A saved state this upload can use: same key, size and part size, else undefined. */
export function usableState(
  saved: unknown,
  want: { key: string; size: number; partSize: number },
): S3ResumeState | undefined {
  const s = saved as Partial<S3ResumeState> | undefined;
  if (s?.kind !== "s3-multipart" || typeof s.uploadId !== "string" || !Array.isArray(s.parts)) return undefined;
  if (s.key !== want.key || s.size !== want.size || s.partSize !== want.partSize) return undefined;
  return s as S3ResumeState;
}

/** The upload a saved state names, whatever else it says (to abort one that cannot be used). */
export function savedUpload(saved: unknown): { key: string; uploadId: string } | undefined {
  const s = saved as Partial<S3ResumeState> | undefined;
  if (s?.kind !== "s3-multipart" || typeof s.uploadId !== "string" || typeof s.key !== "string") return undefined;
  return { key: s.key, uploadId: s.uploadId };
}

export type Confirmation =
  | { ok: true; parts: Map<number, PartRecord>; listed: boolean }
  /** `gone`: the server no longer has it, so there is nothing left to abort. */
  | { ok: false; why: string; gone: boolean };

/**
 * The recorded parts the server confirms holding. An upload id the server no longer knows
 * (aborted, expired by a lifecycle rule, completed) is not resumable. A server that cannot list
 * parts leaves the recorded ones to CompleteMultipartUpload, which rejects a part it lacks.
 */
export async function confirmParts(
  client: S3Client,
  bucket: string,
  state: S3ResumeState,
  signal: AbortSignal,
  log: Logger,
): Promise<Confirmation> {
  const recorded = new Map<number, PartRecord>(
    state.parts.map(([n, size, etag, sha256]) => [n, { size, etag, sha256 }]),
  );
  const held = new Map<number, { size: number; etag: string }>();
  let marker: string | undefined;
  try {
    do {
      const page = await client.send(
        new ListPartsCommand({ Bucket: bucket, Key: state.key, UploadId: state.uploadId, PartNumberMarker: marker }),
        { abortSignal: signal },
      );
      for (const p of page.Parts ?? []) {
        if (p.PartNumber !== undefined)
          held.set(p.PartNumber, { size: p.Size ?? -1, etag: (p.ETag ?? "").replaceAll('"', "") });
      }
      marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
    } while (marker);
  } catch (err) {
    const code = s3ErrorCode(err);
    const status = s3HttpStatus(err);
    if (code === "NoSuchUpload" || status === 404)
      return { ok: false, why: "the server no longer knows the upload id", gone: true };
    if (code === "NotImplemented" || code === "MethodNotAllowed" || status === 501 || status === 405) {
      log.info({ uploadId: state.uploadId }, "server cannot list parts: recorded parts are checked at completion");
      return { ok: true, parts: recorded, listed: false };
    }
    throw s3Error(err, `ListParts s3://${bucket}/${state.key}`);
  }
  const parts = new Map<number, PartRecord>();
  for (const [n, rec] of recorded) {
    const h = held.get(n);
    if (h && h.size === rec.size && h.etag === rec.etag) parts.set(n, rec);
  }
  return { ok: true, parts, listed: true };
}

/** The state to save: the upload and its parts done so far, in part order. */
export function stateOf(
  base: Omit<S3ResumeState, "kind" | "parts">,
  parts: Iterable<{ PartNumber: number; size: number; ETag: string | undefined; ChecksumSHA256: string }>,
): S3ResumeState {
  const list: SavedPart[] = [...parts]
    .map((p): SavedPart => [p.PartNumber, p.size, (p.ETag ?? "").replaceAll('"', ""), p.ChecksumSHA256])
    .sort((a, b) => a[0] - b[0]);
  return { kind: "s3-multipart", ...base, parts: list };
}
