/** Names of every JetStream object artifact-bus owns. Topology is code: see ensureTopology. */
import { checkSubjectToken } from "../contract/names.ts";
import { DLQ_PREFIX, EVENTS_PREFIX, REPLAY_PREFIX } from "../contract/subjects.ts";

export const EVENTS_STREAM = "ARTIFACTS";
export const EVENTS_SUBJECTS = `${EVENTS_PREFIX}.>`;
/** DLQ replays live in the events stream too, on subjects only operators may publish to. */
export const REPLAY_SUBJECTS = `${REPLAY_PREFIX}.>`;
export const DLQ_STREAM = "ARTIFACTS_DLQ";
export const DLQ_SUBJECTS = `${DLQ_PREFIX}.>`;
/** KV bucket: per (destination, event) ledger entries and per (destination, order key) leases. */
export const LEDGER_BUCKET = "artifact_ledger";
/**
 * Ledger key prefix of the gateway's records `idx.<event id>`: which project and run an event
 * id belongs to (so `GET /v1/artifacts/{id}` finds it before any uploader wrote an entry) and
 * the answer given for it (so a retried Idempotency-Key gets the same one).
 */
export const GATEWAY_INDEX_PREFIX = "idx";
/**
 * Ledger key that ensureTopology rewrites whenever it changes a destination consumer's filter (a
 * hash of its destinations' filters): publishers and uploaders read it, cheaply, to learn that
 * their cached destination filters are stale, instead of listing the consumers (CONSUMER.LIST
 * costs the server time in proportion to the subjects in the stream).
 */
export const TOPOLOGY_STAMP_KEY = "topology";
/**
 * Ledger key of the ledger's format record `{"format": <number>}` (nats/ledger-format.ts):
 * which format its records are written in, so that a release that cannot read them refuses to
 * start instead of misreading them. Absent in ledgers made before formats were numbered (format 1).
 */
export const LEDGER_FORMAT_KEY = "format";
/**
 * Ledger key prefix of uploader replicas' heartbeats `replica.<destination token>.<replica id>`
 * (ledger/replica-heartbeat.ts): here, with the other key names, so the permissions that scope
 * each uploader to its own destination's heartbeats need not import the runtime.
 */
export const REPLICA_KEY_PREFIX = "replica";
/**
 * Ledger key prefix of destination pauses `pause.<destination token>` (ledger/destination-pause.ts):
 * while one says paused, that destination's uploaders pull nothing. Operators (`artifact-bus
 * pause`) and the gateway write them; uploaders and status read them.
 */
export const PAUSE_KEY_PREFIX = "pause";
/**
 * Ledger key prefix of key leases `<prefix>.<destination token>.<hash of the order key>`
 * (delivery/key-lease.ts): which version of a key may upload now, and the fence below which none
 * may. Stored as `head` since before they were called leases; the stored name stays until the
 * ledger format is versioned, since replicas of two releases share one bucket.
 */
export const LEASE_KEY_PREFIX = "head";
/**
 * Ledger key prefix of resume records `<prefix>.<destination token>.<hash of the order key>`
 * (delivery/upload-resume.ts): what the last attempt at the key's current version saved to
 * resume its upload (S3 upload id and parts), next to the key's lease, which fences the writes.
 */
export const RESUME_KEY_PREFIX = "resume";
/**
 * Ledger key of a destination's events filter as ensureTopology last set it (`filter.<token>`):
 * with the consumers' names, a publisher learns the destinations without listing the consumers.
 * Expires with the ledger's TTL; a missing record means a full listing.
 */
export function filterRecordKey(destinationToken: string): string {
  return `filter.${destinationToken}`;
}
/**
 * Ledger key of a destination's name rules (`rules.<token>`, JSON of NameRules) as
 * ensureTopology last set them, next to its filter: publishers refuse a name a destination that
 * takes the artifact would refuse. Expires with the ledger's TTL; a missing record means no check.
 */
export function nameRulesRecordKey(destinationToken: string): string {
  return `rules.${destinationToken}`;
}
/**
 * Object store buckets for blobs staged by trainers that share no filesystem with uploaders: one
 * per project, `artifact_blobs_<project>`, so that NATS permissions, which name subjects and
 * streams and never an object inside one, can keep each project's trainers in its own bucket.
 */
export const BLOB_BUCKET_PREFIX = "artifact_blobs_";

/** The object store bucket of a project's staged blobs, e.g. `artifact_blobs_vision`. */
export function blobBucket(project: string): string {
  // A project is one subject token without wildcards, so the name is also a valid bucket, stream
  // and subject token, and no two projects share a bucket.
  return `${BLOB_BUCKET_PREFIX}${checkSubjectToken("project", project)}`;
}

/** The stream behind a project's blob bucket, e.g. `OBJ_artifact_blobs_vision`. */
export function blobStream(project: string): string {
  return `OBJ_${blobBucket(project)}`;
}

/** Durable consumer of a destination, e.g. `s3:main` -> `dest_s3_main`. */
export function consumerName(destinationToken: string): string {
  return `dest_${destinationToken}`;
}

/** Durable consumer of the DLQ replays meant for a destination, e.g. `replay_s3_main`. */
export function replayConsumerName(destinationToken: string): string {
  return `replay_${destinationToken}`;
}

export function destinationFromConsumer(consumer: string): string | undefined {
  return consumer.startsWith("dest_") ? consumer.slice("dest_".length) : undefined;
}
