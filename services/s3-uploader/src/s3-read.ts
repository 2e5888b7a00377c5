/**
 * Reading an uploaded object back (the gateway's content endpoint), proxied through the caller
 * rather than redirected to a presigned URL: the client then needs no route to the bucket, and
 * no signed URL ever leaves this process. Only objects of this destination's bucket and prefix
 * can be read, whatever location is asked for.
 */
import type { Readable } from "node:stream";
import {
  type ByteRange,
  normalizePrefix,
  PermanentError,
  type RemoteContent,
  RemoteNotFoundError,
} from "@artifact-bus/shared";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { s3Error, s3ErrorCode } from "./s3-errors.ts";
import { RESERVED_KEYS } from "./s3-metadata.ts";

/** The key of `s3://<bucket>/<key>`; PermanentError when it is another bucket's or outside `prefix`. */
export function keyOfLocation(location: string, bucket: string, prefix: string): string {
  const head = `s3://${bucket}/`;
  const key = location.startsWith(head) ? location.slice(head.length) : undefined;
  if (key === undefined || key === "" || !key.startsWith(normalizePrefix(prefix))) {
    throw new PermanentError(
      `${JSON.stringify(location)} is not an object of s3://${bucket}/${normalizePrefix(prefix)}`,
    );
  }
  return key;
}

/** GETs the object (or a range of it); the sha256 comes from the metadata the uploader wrote. */
export async function readObject(
  client: S3Client,
  bucket: string,
  key: string,
  range: ByteRange | undefined,
  signal: AbortSignal,
): Promise<RemoteContent> {
  const what = `read of s3://${bucket}/${key}`;
  try {
    const out = await client.send(
      new GetObjectCommand({
        Bucket: bucket,
        Key: key,
        ...(range ? { Range: `bytes=${range.first}-${range.last}` } : {}),
      }),
      { abortSignal: signal },
    );
    const total = /\/(\d+)$/.exec(out.ContentRange ?? "")?.[1];
    const size = total !== undefined ? Number(total) : (out.ContentLength ?? 0);
    const sha256 = out.Metadata?.[RESERVED_KEYS[0]];
    return {
      body: out.Body as Readable,
      size,
      ...(range ? { range } : {}),
      ...(sha256 && /^[0-9a-f]{64}$/.test(sha256) ? { sha256 } : {}),
    };
  } catch (err) {
    if (s3ErrorCode(err) === "NoSuchKey") throw new RemoteNotFoundError(`${what}: no such object`, { cause: err });
    throw s3Error(err, what);
  }
}
