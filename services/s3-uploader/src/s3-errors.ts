/**
 * Maps what `@aws-sdk/client-s3` throws onto the runtime's error classes. Rule of thumb: the
 * network, the server and throttling pass (TransientError); credentials, permissions and missing
 * buckets break the destination until fixed (DestinationError); a malformed request or object
 * does not pass by retrying (PermanentError). Messages carry the operation, the S3 error code,
 * the HTTP status and the request id, never credentials, signatures or signed URLs.
 */
import { DestinationError, PermanentError, TransientError } from "@artifact-bus/shared";

/**
 * Codes that say the destination is broken until an operator acts (credentials, permissions,
 * bucket, region): every object would fail alike, so the destination pauses instead of
 * dead-lettering its backlog.
 */
const DESTINATION_CODES = new Set([
  "AccessDenied",
  "AccountProblem",
  "AllAccessDisabled",
  "InvalidAccessKeyId",
  "InvalidBucketName",
  "InvalidToken",
  "NoSuchBucket",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "PermanentRedirect",
]);

/** Codes about this object that a retry cannot fix, whatever their HTTP status. */
const PERMANENT_CODES = new Set([
  "InvalidObjectState",
  "InvalidArgument",
  "InvalidRequest",
  "KeyTooLongError",
  "MetadataTooLarge",
  "EntityTooLarge",
  "BadDigest",
]);

/** Codes that mean "slow down or try again", sometimes sent with a 4xx status. */
const TRANSIENT_CODES = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestThrottledException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "RequestTimeout",
  "RequestTimeTooSkewed",
  "InternalError",
  "ServiceUnavailable",
  "OperationAborted",
  "NoSuchUpload",
  "TimeoutError",
]);

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
  "ENOTFOUND",
  "UND_ERR_SOCKET",
  "ERR_HTTP_CONTENT_LENGTH_MISMATCH",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  errors?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: number; requestId?: string; extendedRequestId?: string };
  $response?: { headers?: Record<string, string | undefined> };
}

/** The S3 error code of an SDK error (`NoSuchBucket`, ...) or the Node error code (`ECONNRESET`). */
export function s3ErrorCode(err: unknown): string | undefined {
  const e = (err ?? {}) as SdkErrorShape;
  if (typeof e.code === "string") return e.code;
  // Happy-eyeballs connects fail with an AggregateError whose members carry the code.
  if (Array.isArray(e.errors)) {
    const inner = e.errors.map((x) => s3ErrorCode(x)).find((c) => c !== undefined);
    if (inner) return inner;
  }
  return typeof e.name === "string" && e.name !== "Error" ? e.name : undefined;
}

/** The HTTP status of the failed response, if a response came. */
export function s3HttpStatus(err: unknown): number | undefined {
  const status = (err as SdkErrorShape | null)?.$metadata?.httpStatusCode;
  return typeof status === "number" ? status : undefined;
}

/** Retry-After (seconds or HTTP date) as milliseconds from now, if the server sent one. */
export function retryAfterMs(err: unknown, now = Date.now()): number | undefined {
  const raw = (err as SdkErrorShape | null)?.$response?.headers?.["retry-after"];
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Removes what must never reach a log: signed-URL parameters and access key ids. */
export function redact(text: string): string {
  return text
    .replace(/(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s"']+/gi, "$1[redacted]")
    .replace(/(Signature=|Credential=)[^,\s"']+/g, "$1[redacted]")
    .replace(/\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, "[access-key-id]");
}

/** A plain copy of an SDK error (name and redacted message): SDK errors hold request details. */
function safeCause(err: unknown): Error {
  const e = (err ?? {}) as SdkErrorShape;
  const cause = new Error(redact(typeof e.message === "string" ? e.message : String(err)));
  cause.name = s3ErrorCode(err) ?? "Error";
  return cause;
}

/**
 * Classifies an error of one S3 operation. `what` names the operation and the object, e.g.
 * `PutObject s3://bucket/key`. Errors already classified pass through unchanged.
 */
export function s3Error(err: unknown, what: string): Error {
  if (err instanceof TransientError || err instanceof PermanentError || err instanceof DestinationError) return err;
  const code = s3ErrorCode(err);
  const status = s3HttpStatus(err);
  const e = (err ?? {}) as SdkErrorShape;
  const requestId = e.$metadata?.requestId;
  const rawMessage = typeof e.message === "string" ? e.message : String(err);
  // HEAD answers have no body, so the SDK reports "NotFound"/"Unknown"; name the status instead.
  const detail = [code, status && `HTTP ${status}`, requestId && `request ${requestId}`].filter(Boolean).join(", ");
  const message = redact(`${what}: ${detail ? `${detail}: ` : ""}${rawMessage}`);
  const cause = safeCause(err);

  if (code && DESTINATION_CODES.has(code)) return new DestinationError(message, { cause });
  if (code && PERMANENT_CODES.has(code)) return new PermanentError(message, { cause });
  if ((code && (TRANSIENT_CODES.has(code) || NETWORK_CODES.has(code))) || status === 429 || (status ?? 0) >= 500) {
    return new TransientError(message, { cause, retryAfterMs: retryAfterMs(err) });
  }
  // Refused without a code we know (a HEAD has no body): credentials or permissions.
  if (status === 401 || status === 403) return new DestinationError(message, { cause });
  // 3xx: a wrong region or endpoint (PermanentRedirect); 4xx: the request itself is wrong.
  if (status !== undefined && status >= 300) return new PermanentError(message, { cause });
  // No response at all: the socket, DNS or a timer failed. The runtime's rule: unknown is transient.
  return new TransientError(message, { cause, retryAfterMs: retryAfterMs(err) });
}
