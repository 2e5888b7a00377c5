/**
 * The official W&B clients' retry rules, mapped onto the runtime's error classes. Retried (in the
 * call, then by the runtime): connection errors, timeouts, status 0 or ≥ 600, 429 and every other
 * 4xx/5xx except 400, 401, 403, 404, 409, 410, 413, 422, 501. 401 and 403 are about the API key,
 * and 400, 404 and 501 on the API mean a wrong base URL or a server that does not speak this
 * protocol: the destination is broken (it pauses). 409, 410, 413 and 422 concern this artifact.
 * Messages name the operation and never carry the key or a signed URL.
 */
import { DestinationError, PermanentError, TransientError } from "@artifact-bus/shared";

const NOT_RETRIED = new Set([400, 401, 403, 404, 409, 410, 413, 422, 501]);
const DESTINATION_STATUSES = new Set([400, 401, 403, 404, 501]);

/** Whether a GraphQL answer with this status is retried (upsertBucket also retries 409). */
export function retriedStatus(status: number, operation: string): boolean {
  if (status === 409 && operation === "UpsertBucket") return true;
  return status === 0 || status >= 600 || (status >= 400 && !NOT_RETRIED.has(status));
}

/** The error for a GraphQL answer other than 200. */
export function apiStatusError(status: number, operation: string, retryAfterMs: number | undefined): Error {
  const message = `W&B ${operation}: HTTP ${status}`;
  if (retriedStatus(status, operation)) return new TransientError(message, { retryAfterMs });
  if (status === 401 || status === 403) {
    return new DestinationError(`${message}: the API key was refused (check WANDB_API_KEY and the entity)`);
  }
  if (DESTINATION_STATUSES.has(status)) {
    return new DestinationError(`${message}: the server does not take this request (check baseUrl)`);
  }
  return new PermanentError(message);
}

/** Messages that refuse this request's content: no retry can change them. */
const ARTIFACT_REFUSAL =
  /invalid|not valid|is reserved|must (be|not|match|have)|cannot|can't|already (exists|committed)|conflict|too (large|long|many)|at most|exceeds the|does not match|mismatch/i;

/**
 * The error for GraphQL `errors` in a 200 answer, by message. The key's or the entity's trouble
 * pauses the destination; a refusal of this artifact's content is permanent; anything else (an
 * "Internal Server Error", a message never seen before) is transient: retried with backoff until
 * maxDeliver, then dead-lettered with the message, rather than dead-lettered at once for what
 * may be the server's passing trouble.
 */
export function apiGraphqlError(messages: string[], operation: string): Error {
  const text = messages.join("; ").slice(0, 1000);
  const message = `W&B ${operation}: ${text}`;
  if (/timeout|timed out|deadline|try again|temporar|unavailable|rate limit|too many requests/i.test(text)) {
    return new TransientError(message);
  }
  if (
    /permission|unauthori[sz]ed|forbidden|api key|not allowed|access denied|entity .*not found|project .*not found/i.test(
      text,
    )
  ) {
    return new DestinationError(message);
  }
  if (ARTIFACT_REFUSAL.test(text)) return new PermanentError(message);
  return new TransientError(message);
}

/**
 * Storage refused a PUT as a bad request (400): what S3 (BadDigest) and GCS answer when the body's
 * MD5 differs from its Content-MD5. Transient as it stands; for bytes sent unverified the
 * destination first reads the blob again to learn whether it changed (wandb-destination.ts).
 */
export class StorageRefusedError extends TransientError {}

/** The error for a signed-URL PUT answered with `status`: storage retries 429 and 5xx, and an expired URL gets a fresh one next attempt. */
export function storageStatusError(status: number, what: string, retryAfterMs: number | undefined): Error {
  const message = `W&B storage ${what}: HTTP ${status}`;
  if (status === 400) return new StorageRefusedError(message, { retryAfterMs });
  if (status === 429 || status === 403 || status === 400 || (status >= 500 && status !== 501) || status >= 600) {
    return new TransientError(message, { retryAfterMs });
  }
  return new PermanentError(message);
}

/** Retry-After (seconds, decimals allowed, or an HTTP date) as milliseconds from now. */
export function retryAfterMs(raw: string | null | undefined, now = Date.now()): number | undefined {
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The official backoff: min(60 s, 2 s × 2^attempt × (1 + 0.25 × rand)), attempt from 0. */
export function apiBackoffMs(attempt: number, random: () => number = Math.random): number {
  return Math.min(60_000, 2000 * 2 ** attempt * (1 + 0.25 * random()));
}
