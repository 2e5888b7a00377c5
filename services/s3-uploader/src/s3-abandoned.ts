/**
 * Housekeeping of multipart uploads that uploaders left behind: killed before they could abort
 * or resume them, or out of attempts.
 */
import type { Logger } from "@artifact-bus/shared";
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, type S3Client } from "@aws-sdk/client-s3";
import { s3Error, s3ErrorCode, s3HttpStatus } from "./s3-errors.ts";

const ABORT_TIMEOUT_MS = 10_000;

/**
 * Aborts multipart uploads under `prefix` started before `olderThanMs` ago: what uploaders
 * that died mid-upload left behind. Returns how many were aborted; 0 where the server cannot
 * list multipart uploads (s3rver answers NotImplemented).
 */
export async function abortAbandonedUploads(
  client: S3Client,
  bucket: string,
  prefix: string,
  olderThanMs: number,
  log: Logger,
  signal?: AbortSignal,
): Promise<number> {
  const cutoff = Date.now() - olderThanMs;
  let aborted = 0;
  let KeyMarker: string | undefined;
  let UploadIdMarker: string | undefined;
  do {
    let page: Awaited<ReturnType<typeof listPage>>;
    try {
      page = await listPage(client, { Bucket: bucket, Prefix: prefix, KeyMarker, UploadIdMarker }, signal);
    } catch (err) {
      if (s3ErrorCode(err) === "NotImplemented" || s3HttpStatus(err) === 501) {
        log.info({ bucket }, "server cannot list multipart uploads; nothing to clean up");
        return aborted;
      }
      throw s3Error(err, `ListMultipartUploads s3://${bucket}/${prefix}`);
    }
    for (const u of page.Uploads ?? []) {
      if (!u.Key || !u.UploadId || !u.Initiated || u.Initiated.getTime() >= cutoff) continue;
      try {
        await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }), {
          abortSignal: signal ?? AbortSignal.timeout(ABORT_TIMEOUT_MS),
        });
        aborted++;
      } catch (err) {
        log.warn({ key: u.Key, uploadId: u.UploadId, code: s3ErrorCode(err) }, "could not abort abandoned upload");
      }
    }
    KeyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    UploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
  } while (KeyMarker);
  return aborted;
}

function listPage(
  client: S3Client,
  input: { Bucket: string; Prefix: string; KeyMarker: string | undefined; UploadIdMarker: string | undefined },
  signal: AbortSignal | undefined,
) {
  return client.send(new ListMultipartUploadsCommand(input), signal ? { abortSignal: signal } : {});
}
