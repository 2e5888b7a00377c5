/**
 * The shapes the W&B API double and its launcher exchange over the admin endpoints, and that
 * tests assert on. Shared by the child process and the launcher, so both agree by construction.
 */

/** How the double answers the next `times` requests that match `target` (and `operation`). */
export type FaultRule = {
  target: "graphql" | "storage";
  /** GraphQL operationName to match; graphql rules only (a storage rule with one is refused). */
  operation?: string;
  /**
   * Only requests whose body holds this string, e.g. one artifact's digest: a fault of one
   * artifact while the rest of the API works. graphql rules only.
   */
  bodyIncludes?: string;
  /** How many matching requests this rule applies to (a positive integer). */
  times: number;
} & (
  | {
      /** Answer this status instead of executing the request. */
      status: number;
      /** Sent as the `Retry-After` header, verbatim (seconds, or an HTTP date). */
      retryAfter?: string;
      /** Response body; default a short JSON (graphql) or text (storage) naming the fault. */
      body?: string;
    }
  | {
      /** Execute the request, then hold the answer this long (a slow way back: the work is done). */
      delayMs: number;
    }
  | {
      /**
       * Destroy the connection without an answer. Storage PUTs: after reading this many body
       * bytes, nothing stored. GraphQL: the request is not executed (its body is read first to
       * learn the operation name).
       */
      dropAfterBytes: number;
    }
);

/** One file of an artifact version, as stored. */
export interface StoredFile {
  /** Path inside the artifact (the manifest key). */
  path: string;
  size: number;
  /** Standard base64 of the MD5 of the bytes, as in the manifest. */
  digest: string;
  /** Lowercase hex sha256 of the stored bytes, for comparing with staged blobs. */
  sha256: string;
  /** The artifact whose upload brought these bytes (an older one when the content was known). */
  birthArtifactID: string;
}

/** An artifact version as the double holds it. */
export interface StoredArtifact {
  id: string;
  entity: string;
  project: string;
  /** The artifact collection (the artifact's name without version). */
  name: string;
  /** 0, 1, ... in commit order within the collection; -1 while PENDING. */
  versionIndex: number;
  /** `v<versionIndex>`, or "" while PENDING. */
  version: string;
  type: string;
  /** The MANIFEST_MD5 digest (lowercase hex) given at creation. */
  digest: string;
  state: "PENDING" | "COMMITTED";
  /** Aliases it holds now (`latest` on the newest commit, or on a version that deduplication chose). */
  aliases: string[];
  metadata: Record<string, unknown>;
  description: string | null;
  runName: string;
  /** RFC 3339 time of createArtifact. */
  createdAt: string;
  /** Files uploaded (or known) for it; complete once COMMITTED. */
  files: StoredFile[];
  /** The uploaded manifest JSON, parsed (its text when it is not JSON); null until it was PUT. */
  manifest: unknown;
}

/** One request the double answered, failed or dropped (admin endpoints excluded). */
export interface RequestRecord {
  /** Arrival time, ms since the epoch. */
  at: number;
  kind: "graphql" | "storage";
  /** GraphQL operationName (from the body, or the document's only operation). */
  operation?: string;
  method: string;
  /** HTTP status answered; 0 when the connection was destroyed without an answer. */
  status: number;
  /** Request body bytes read. */
  bytes?: number;
}
