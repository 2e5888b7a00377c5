/**
 * The `options` record of an `s3:*` destination, validated once at start-up. Credentials are
 * deliberately absent: they come from the standard AWS chain (AWS_ACCESS_KEY_ID and friends,
 * shared profiles, instance roles), so a config file never holds a secret.
 */

import {
  checkPathTemplate,
  DEFAULT_PATH_TEMPLATE,
  normalizePrefix,
  SHARED_NAMESPACE_OPTION,
} from "@artifact-bus/shared";
import { type Static, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { buffersForCutoff } from "./s3-part-buffers.ts";

const MiB = 1024 * 1024;
/** S3's floor for every multipart part but the last. */
export const MIN_PART_SIZE = 5 * MiB;
/** S3's ceiling for one part. */
export const MAX_PART_SIZE = 5 * 1024 * MiB;
/** S3's ceiling for one PutObject. */
export const MAX_PUT_SIZE = 5 * 1024 * MiB;

export const S3OptionsSchema = Type.Object(
  {
    bucket: Type.String({ minLength: 3, maxLength: 255, pattern: "^[^/\\s]+$", description: "Target bucket" }),
    prefix: Type.String({ default: "", maxLength: 512, description: "Key prefix; keys never leave it" }),
    keyTemplate: Type.String({ default: DEFAULT_PATH_TEMPLATE, description: "Key under the prefix" }),
    sharedNamespace: SHARED_NAMESPACE_OPTION,
    allowDotSegments: Type.Boolean({
      default: false,
      description: "Accept names with a segment starting with '.' (e.g. .hydra/config.yaml)",
    }),
    region: Type.Optional(Type.String({ minLength: 1, description: "Default: AWS_REGION, then us-east-1" })),
    endpoint: Type.Optional(Type.String({ minLength: 1, description: "S3-compatible endpoint URL (MinIO, ...)" })),
    forcePathStyle: Type.Boolean({ default: false, description: "bucket in the path, as MinIO usually needs" }),
    partSizeBytes: Type.Integer({
      minimum: MIN_PART_SIZE,
      maximum: MAX_PART_SIZE,
      // 8 MiB parts, 4 in flight: what keeps a large upload's RSS within the target (bench/RESULTS.md).
      default: 8 * MiB,
      description:
        "Multipart part size, and the size of the shared buffers blobs are read into; smaller blobs go in one PutObject",
    }),
    queueSize: Type.Integer({ minimum: 1, maximum: 64, default: 4, description: "Parts uploaded in parallel" }),
    uploadCutoffBytes: Type.Integer({
      minimum: 0,
      maximum: MAX_PUT_SIZE,
      // A 64 MiB checkpoint shard goes whole (written once by servers that copy parts together),
      // in 8 buffers of 8 MiB: the pool stays within the uploader's 200 MB target (bench/RESULTS.md).
      default: 64 * MiB,
      description:
        "Blobs up to this size go in one PutObject, read into the part buffers first; larger ones in parts. Blobs below partSizeBytes always go whole",
    }),
    partBuffers: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1024,
        description:
          "Part buffers the uploads of this destination share (memory: partBuffers x partSizeBytes). Default: queueSize + 3, or what one blob of uploadCutoffBytes needs if more",
      }),
    ),
    requestTimeoutMs: Type.Integer({
      minimum: 100,
      default: 120_000,
      description: "A request fails when its socket moves no bytes for this long",
    }),
    connectTimeoutMs: Type.Integer({ minimum: 100, default: 10_000 }),
    probeTimeoutMs: Type.Integer({ minimum: 100, default: 5_000, description: "Total time of one HeadBucket probe" }),
    maxAttempts: Type.Integer({
      minimum: 1,
      maximum: 10,
      default: 3,
      description: "SDK attempts per request (parts, PUTs, HeadBucket); every one sends the whole body again",
    }),
  },
  { additionalProperties: false },
);

export type S3OptionsInput = Static<typeof S3OptionsSchema>;

/** Validated options with the region and the pool's size resolved. */
export interface S3Options extends Omit<S3OptionsInput, "region" | "partBuffers"> {
  readonly region: string;
  /** At least what one whole PUT of uploadCutoffBytes takes, so it never waits for buffers that do not exist. */
  readonly partBuffers: number;
}

/** Raised for a bad `options` record; the message names the field and never echoes a secret. */
export class S3OptionsError extends Error {
  override name = "S3OptionsError";
}

const CREDENTIAL_FIELDS = ["accessKeyId", "secretAccessKey", "sessionToken", "credentials", "profile"];

type Env = Record<string, string | undefined>;

/** Validates a destination's `options`, fills defaults and resolves the region. */
export function parseS3Options(destination: string, input: unknown, env: Env = process.env): S3Options {
  const fail = (field: string, message: string): never => {
    throw new S3OptionsError(`${destination}: options.${field}: ${message}`);
  };
  if (typeof input !== "object" || input === null || Array.isArray(input)) fail("", "must be an object");
  const raw = input as Record<string, unknown>;
  for (const field of CREDENTIAL_FIELDS) {
    if (field in raw) {
      fail(
        field,
        "credentials do not belong in the config; use the AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance role)",
      );
    }
  }
  const value = Value.Default(S3OptionsSchema, structuredClone(raw)) as Record<string, unknown>;
  const first = Value.Errors(S3OptionsSchema, value).First();
  if (first) {
    const path = first.path.replace(/^\//, "").replaceAll("/", ".");
    // An unknown field's value is never echoed: it may be a secret under a name we do not know.
    if (!(path in S3OptionsSchema.properties))
      fail(path, `unknown option; known: ${Object.keys(S3OptionsSchema.properties).join(", ")}`);
    fail(path, `${first.message} (got ${JSON.stringify(first.value)})`);
  }
  const options = value as S3OptionsInput;
  try {
    checkPathTemplate(options.keyTemplate, options.sharedNamespace);
  } catch (err) {
    fail("keyTemplate", (err as Error).message);
  }
  try {
    normalizePrefix(options.prefix);
  } catch (err) {
    fail("prefix", (err as Error).message);
  }
  if (options.endpoint !== undefined) {
    const url = URL.parse(options.endpoint);
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:"))
      fail("endpoint", "must be an http:// or https:// URL");
    if (url?.username || url?.password) fail("endpoint", "must not carry credentials");
  }
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1";
  const needed = buffersForCutoff(options.uploadCutoffBytes, options.partSizeBytes);
  if (options.partBuffers !== undefined && options.partBuffers < needed) {
    fail(
      "partBuffers",
      `${options.partBuffers} buffers cannot hold one blob of uploadCutoffBytes (${options.uploadCutoffBytes}) in parts of ${options.partSizeBytes}: at least ${needed} (or lower uploadCutoffBytes)`,
    );
  }
  const partBuffers = options.partBuffers ?? Math.max(options.queueSize + 3, needed);
  return { ...options, region, partBuffers };
}
