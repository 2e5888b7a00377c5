/**
 * Multipart uploads on `@aws-sdk/client-s3`: parts read straight into a fixed set of part
 * buffers, `queueSize` in flight, each with its SHA-256 for the server to verify; the upload
 * completes only after the reader has checked the whole blob. Its upload id and completed parts
 * are saved (ctx.resume) as they complete, and the next attempt of the event resumes from them
 * (s3-resume.ts). A failure a retry may pass keeps the upload for that attempt; any other aborts
 * it once, best effort. A failed abort never hides the failure that caused it (stock s3rver
 * answers every abort with MethodNotAllowed).
 *
 * Not lib-storage's Upload: it assembles each part by concatenating stream chunks, two fresh
 * buffers per byte uploaded, which V8 frees late, so its buffers grow with the upload's speed;
 * here they are a flat (queueSize + 1) parts, 40 MiB with the defaults.
 */
import { type BlobReader, LeaseLostError, type Logger, PermanentError, type UploadResume } from "@artifact-bus/shared";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type PutObjectCommandInput,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { s3Error, s3ErrorCode, s3HttpStatus } from "./s3-errors.ts";
import { partSha256, withPayloadSha256 } from "./s3-payload-hash.ts";
import { confirmParts, type PartRecord, savedUpload, stateOf, usableState } from "./s3-resume.ts";

export interface MultipartRequest {
  client: S3Client;
  /** Bucket, Key, ContentType, Metadata. */
  params: Pick<PutObjectCommandInput, "Bucket" | "Key" | "ContentType" | "Metadata">;
  /** The blob's bytes; its fill() at the end verifies them. */
  reader: BlobReader;
  /** Bytes the reader will give. */
  size: number;
  /** Where part buffers come from and go back to; their size is the part size. */
  buffers: PartBuffers;
  queueSize: number;
  signal: AbortSignal;
  onProgress(bytesDone: number): void;
  /** Runs right before CompleteMultipartUpload, the step that makes the object visible; may throw. */
  beforeComplete(): Promise<void>;
  /**
   * Where the upload id and completed parts are saved for the next attempt, which resumes from
   * them. With it, an upload that fails on something a retry can pass (and is interrupted) is
   * kept for that retry instead of aborted.
   */
  resume?: UploadResume;
  log: Logger;
}

export interface MultipartResult {
  etag: string | undefined;
  versionId: string | undefined;
  uploadId: string | undefined;
}

const ABORT_TIMEOUT_MS = 10_000;

import type { PartBuffers } from "./s3-part-buffers.ts";

interface CompletedPart {
  PartNumber: number;
  ETag: string | undefined;
  ChecksumSHA256: string;
  size: number;
}

/** Parts already on the server, for uploadParts to skip; and the upload's identity, to save. */
interface Session {
  uploadId: string;
  known: Map<number, PartRecord>;
  save(parts: CompletedPart[]): void;
}

/**
 * Uploads the reader's bytes in parts of `buffers.partSize`, `queueSize` at a time. Rejects with the
 * failure that stopped it (the first one: later ones are its echo), after aborting the upload.
 */
export async function uploadMultipart(req: MultipartRequest): Promise<MultipartResult> {
  const { Bucket, Key } = req.params;
  const stop = new AbortController();
  const signal = AbortSignal.any([req.signal, stop.signal]);
  let firstError: unknown;
  const fail = (err: unknown) => {
    firstError ??= err;
    stop.abort(err);
  };
  let uploadId: string | undefined;
  try {
    const session = await openSession(req, signal);
    uploadId = session.uploadId;
    const parts = await uploadParts(req, session, signal, fail);
    await req.beforeComplete();
    const out = await req.client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key,
        UploadId: uploadId,
        MultipartUpload: {
          Parts: parts.map(({ PartNumber, ETag, ChecksumSHA256 }) => ({ PartNumber, ETag, ChecksumSHA256 })),
        },
      }),
      { abortSignal: signal },
    );
    return { etag: out.ETag, versionId: out.VersionId, uploadId };
  } catch (err) {
    fail(err);
    if (uploadId && keptForResume(req, firstError)) {
      req.log.info({ key: Key, uploadId }, "multipart upload kept for the next attempt to resume");
    } else if (uploadId) {
      await abortUpload(req, uploadId);
      // Told to the next attempt too: its ListParts would find the id gone anyway.
      await req.resume?.save({});
    }
    throw firstError;
  }
}

/**
 * Whether a failed upload stays for the next attempt to resume: only with somewhere its state is
 * saved, and a failure a retry may pass (an interruption, a lost lease, a transient error). A
 * permanent one (a corrupt blob, access denied), or an id or part the server rejects, aborts it.
 */
function keptForResume(req: MultipartRequest, err: unknown): boolean {
  if (!req.resume) return false;
  // First: a corrupt or vanished blob also aborts the signal, and no retry passes it.
  if (err instanceof PermanentError || req.signal.reason instanceof PermanentError) return false;
  if (err instanceof LeaseLostError || req.signal.aborted) return true;
  const code = s3ErrorCode(err);
  if (code === "NoSuchUpload" || code === "InvalidPart" || code === "InvalidPartOrder") return false;
  return !(s3Error(err, "upload") instanceof PermanentError);
}

/**
 * The upload to send parts to: the one the last attempt saved, where the server confirms it
 * (what it holds of it is skipped), or a new one, whose id is saved before any part is sent.
 */
async function openSession(req: MultipartRequest, signal: AbortSignal): Promise<Session> {
  const { Bucket, Key } = req.params;
  const base = { key: Key ?? "", size: req.size, partSize: req.buffers.partSize };
  const saved = await loadState(req);
  const previous = usableState(saved, base);
  // An upload this one cannot continue (the part size or key changed since), or one of an older
  // version of the key, superseded and never to be resumed: not left behind.
  const other = previous ? undefined : (savedUpload(saved) ?? savedUpload(req.resume?.abandoned()));
  if (other) {
    req.log.info({ key: other.key, uploadId: other.uploadId }, "saved upload will not be resumed; aborting it");
    await abortUpload(req, other.uploadId, other.key);
  }
  const session = (uploadId: string, known: Map<number, PartRecord>): Session => ({
    uploadId,
    known,
    save: (parts) => void req.resume?.save(stateOf({ ...base, uploadId }, parts)),
  });
  if (previous) {
    const confirmed = await confirmParts(req.client, Bucket ?? "", previous, signal, req.log);
    if (confirmed.ok) {
      req.log.info(
        { key: Key, uploadId: previous.uploadId, recorded: previous.parts.length, confirmed: confirmed.parts.size },
        "resuming multipart upload",
      );
      return session(previous.uploadId, confirmed.parts);
    }
    req.log.info({ key: Key, uploadId: previous.uploadId, why: confirmed.why }, "cannot resume; starting over");
    if (!confirmed.gone) await abortUpload(req, previous.uploadId);
  }
  const created = await req.client.send(
    new CreateMultipartUploadCommand({ ...req.params, ChecksumAlgorithm: "SHA256" }),
    { abortSignal: signal },
  );
  const uploadId = created.UploadId ?? "";
  req.log.debug({ key: Key, uploadId }, "multipart upload created");
  // Saved before any part goes: a kill from here on leaves an id the next attempt reuses or aborts.
  await req.resume?.save(stateOf({ ...base, uploadId }, []));
  return session(uploadId, new Map());
}

/** The saved state, if any; a ledger that cannot answer now means none (a lost lease stops the upload). */
async function loadState(req: MultipartRequest): Promise<unknown> {
  try {
    return await req.resume?.load();
  } catch (err) {
    if (err instanceof LeaseLostError) throw err;
    req.log.warn({ err: (err as Error).message }, "resume state unreadable; starting a new upload");
    return undefined;
  }
}

/**
 * Reads and sends every part, `queueSize` in flight and one more being read; each buffer goes
 * back to the shared pool as soon as its request is over.
 */
async function uploadParts(
  req: MultipartRequest,
  session: Session,
  signal: AbortSignal,
  fail: (err: unknown) => void,
): Promise<CompletedPart[]> {
  const { uploadId } = session;
  const parts: CompletedPart[] = [];
  const inflight = new Set<Promise<void>>();
  let done = 0;
  for (let partNumber = 1; ; partNumber++) {
    const buf = await req.buffers.take(signal);
    let n: number;
    try {
      // Reading the next part overlaps with the parts in flight.
      n = await req.reader.fill(buf);
      if (n === 0 && partNumber > 1) {
        req.buffers.give(buf);
        break;
      }
      while (inflight.size >= req.queueSize && !signal.aborted) await Promise.race(inflight);
      signal.throwIfAborted();
    } catch (err) {
      req.buffers.give(buf);
      throw err;
    }
    const body = buf.subarray(0, n);
    const held = heldPart(session.known.get(partNumber), partNumber, body);
    if (held) {
      // On the server already, with these very bytes: not sent again.
      parts.push(held);
      done += n;
      req.onProgress(done);
      req.buffers.give(buf);
      if (n < buf.length) break;
      continue;
    }
    const sent = sendPart(req, uploadId, partNumber, body, signal)
      .then((part) => {
        parts.push(part);
        done += n;
        req.onProgress(done);
        session.save(parts);
      }, fail)
      .finally(() => {
        req.buffers.give(buf);
        inflight.delete(sent);
      });
    inflight.add(sent);
    if (n < buf.length) break;
  }
  await Promise.all(inflight);
  signal.throwIfAborted();
  return parts.sort((a, b) => a.PartNumber - b.PartNumber);
}

/** One part, its SHA-256 reused as the signer's payload hash. */
async function sendPart(
  req: MultipartRequest,
  uploadId: string,
  partNumber: number,
  body: Buffer,
  signal: AbortSignal,
): Promise<CompletedPart> {
  const digest = partSha256(body);
  const ChecksumSHA256 = digest.toString("base64");
  const command = new UploadPartCommand({
    Bucket: req.params.Bucket,
    Key: req.params.Key,
    UploadId: uploadId,
    PartNumber: partNumber,
    Body: body,
    ContentLength: body.length,
    ChecksumSHA256,
  });
  const out = await req.client.send(withPayloadSha256(command, digest.toString("hex")), { abortSignal: signal });
  return { PartNumber: partNumber, ETag: out.ETag, ChecksumSHA256, size: body.length };
}

/** The recorded part, if the staged bytes of it are the ones recorded (same size and SHA-256). */
function heldPart(rec: PartRecord | undefined, partNumber: number, body: Buffer): CompletedPart | undefined {
  if (!rec || rec.size !== body.length) return undefined;
  const ChecksumSHA256 = partSha256(body).toString("base64");
  if (ChecksumSHA256 !== rec.sha256) return undefined;
  return { PartNumber: partNumber, ETag: `"${rec.etag}"`, ChecksumSHA256, size: body.length };
}

/** Aborts the upload once; a failure is logged, not thrown. */
async function abortUpload(req: MultipartRequest, uploadId: string, Key = req.params.Key): Promise<void> {
  const { Bucket } = req.params;
  try {
    await req.client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: uploadId }), {
      abortSignal: AbortSignal.timeout(ABORT_TIMEOUT_MS),
    });
  } catch (err) {
    // Parts left behind cost storage, not correctness: cleanupAbandoned() or a bucket
    // lifecycle rule reclaims them, and the final key never shows a partial object.
    req.log.warn(
      { key: Key, uploadId, code: s3ErrorCode(err), status: s3HttpStatus(err) },
      "could not abort multipart upload",
    );
  }
}
