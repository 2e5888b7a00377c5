/** artifact-bus S3 destination: the adapter, its options, and how S3 failures are classified. */

export { abortAbandonedUploads } from "./s3-abandoned.ts";
export { S3Destination, type S3DestinationInit } from "./s3-destination.ts";
export { redact, retryAfterMs, s3Error, s3ErrorCode, s3HttpStatus } from "./s3-errors.ts";
export { s3DestinationFactory } from "./s3-factory.ts";
export { METADATA_LIMIT_BYTES, metadataKey, metadataValue, objectMetadata, RESERVED_KEYS } from "./s3-metadata.ts";
export { type MultipartRequest, type MultipartResult, uploadMultipart } from "./s3-multipart.ts";
export {
  MAX_PART_SIZE,
  MIN_PART_SIZE,
  parseS3Options,
  type S3Options,
  S3OptionsError,
  type S3OptionsInput,
  S3OptionsSchema,
} from "./s3-options.ts";
export { keyOfLocation, readObject } from "./s3-read.ts";
export { type S3ResumeState, type SavedPart, usableState } from "./s3-resume.ts";
