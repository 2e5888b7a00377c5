/**
 * Least-privilege NATS permissions per role, built from the names the runtime uses, and the
 * conventional users holding them. server-config.ts renders users as nats-server config;
 * sample-config.ts is the committed sample's text.
 *
 * Every subject is one that the v3 clients (@nats-io/jetstream, kv, obj) send for a call
 * artifact-bus makes; each grant names that call, and the sample file carries it as a comment.
 */

import { userInboxPrefix } from "../../config/inbox-prefix.ts";
import { SET_KEY_PREFIX } from "../../contract/checkpoint-set.ts";
import { destinationFromToken, parseDestinationName } from "../../contract/destination-name.ts";
import { checkSubjectToken } from "../../contract/names.ts";
import { dlqSubject, EVENTS_PREFIX, REPLAY_PREFIX } from "../../contract/subjects.ts";
import {
  BLOB_BUCKET_PREFIX,
  blobBucket,
  blobStream,
  consumerName,
  DLQ_STREAM,
  EVENTS_STREAM,
  filterRecordKey,
  GATEWAY_INDEX_PREFIX,
  LEASE_KEY_PREFIX,
  LEDGER_BUCKET,
  nameRulesRecordKey,
  PAUSE_KEY_PREFIX,
  REPLICA_KEY_PREFIX,
  RESUME_KEY_PREFIX,
  replayConsumerName,
  TOPOLOGY_STAMP_KEY,
} from "../topology-names.ts";

/** One allowed subject and the call that needs it. */
export interface Grant {
  subject: string;
  why: string;
}

/** Allow-lists; anything not listed is refused by the server. */
export interface RolePermissions {
  publish: Grant[];
  subscribe: Grant[];
}

/** A user of the artifact-bus account. */
export interface NatsUser {
  user: string;
  /** `{ env }` renders `$NAME`, read from the server's environment at start; `{ value }` inlines it. */
  password: { env: string } | { value: string };
  /** One line saying who this user is. */
  role: string;
  permissions: RolePermissions;
}

const API = "$JS.API";
const LEDGER_STREAM = `KV_${LEDGER_BUCKET}`;

/** Replies to `user`'s requests, in inboxes only it may subscribe to (config/inbox-prefix.ts). */
function repliesOf(user: string): Grant {
  return {
    subject: `${userInboxPrefix(user)}.>`,
    why: "replies: PubAcks, API responses, fetched messages (its own inboxes only: others' replies carry their events and blobs)",
  };
}
const ACCOUNT_INFO: Grant = { subject: `${API}.INFO`, why: "jetstreamManager() reads account info first" };
const LIST_DESTINATIONS = `${API}.CONSUMER.LIST.${EVENTS_STREAM}`;
const LIST_DESTINATION_NAMES = `${API}.CONSUMER.NAMES.${EVENTS_STREAM}`;
const LEDGER_READ = `${API}.STREAM.MSG.GET.${LEDGER_STREAM}`;
// Kvm.open() binds without reading the stream config, so kv.get() never uses direct get.
const LEDGER_READ_HOW = "kv.get() on the bucket from Kvm.open(): STREAM.MSG.GET, not direct get";
/**
 * Blob buckets of every project (`OBJ_artifact_blobs_<project>`), for the roles that serve every
 * project. A stream name is one subject token and wildcards match whole tokens only, so this
 * grant covers the message get of every stream in the account: read only. NatsBlobStore reads
 * objects by message get alone (no consumer, whose create API could also change consumers).
 */
const ANY_BLOB_READ: Grant = {
  subject: `${API}.STREAM.MSG.GET.*`,
  why: `blobs of any project's bucket ${BLOB_BUCKET_PREFIX}<project>: object metadata and chunks by message get (a stream name is one token, so every stream, read only)`,
};

/**
 * Ledger reads of a trainer of `project`: by direct get, whose request subject names the key, so
 * a grant can scope it (a message get names it in the body, where no permission sees it). Its
 * project's entries, and the records every publisher needs: the topology stamp, each
 * destination's filter and name rules.
 */
function ledgerReadsOf(project: string): Grant[] {
  return [
    { subject: directGet(`ev.*.${project}.>`), why: `flush() reads entries of project ${project} only (direct get)` },
    ...topologyReads("logFile"),
  ];
}

const directGet = (key: string) => `${API}.DIRECT.GET.${LEDGER_STREAM}.$KV.${LEDGER_BUCKET}.${key}`;

/** The records every publisher reads by direct get: the topology stamp, each destination's filter and name rules. */
function topologyReads(who: string): Grant[] {
  return [
    { subject: directGet(TOPOLOGY_STAMP_KEY), why: `${who}: whether the topology changed (the stamp's revision)` },
    {
      subject: directGet(filterRecordKey("*")),
      why: `${who}: which events each destination takes (its recorded filter)`,
    },
    {
      subject: directGet(nameRulesRecordKey("*")),
      why: `${who}: the names each destination refuses (its recorded rules)`,
    },
  ];
}

/**
 * A trainer of `project`: publishes that project's events, stages blobs in its project's own
 * object store bucket, reads its project's ledger entries for flush(). It cannot publish for
 * another project, read another project's ledger entries, read, write or delete another
 * project's blobs, create a bucket, change topology, consume, or write the ledger.
 */
export function trainerPermissions(project: string, user = trainerUserName(project)): RolePermissions {
  checkSubjectToken("project", project);
  const bucket = blobBucket(project);
  return {
    publish: [
      { subject: `${EVENTS_PREFIX}.${project}.>`, why: `logFile: events of project ${project} only` },
      ACCOUNT_INFO,
      { subject: LIST_DESTINATIONS, why: "logFile: which destinations take the event (consumers.list)" },
      {
        subject: LIST_DESTINATION_NAMES,
        why: "logFile: whether the destinations changed since the last listing (names only, cheap)",
      },
      ...ledgerReadsOf(project),
      {
        subject: `${API}.CONSUMER.CREATE.${LEDGER_STREAM}.*.$KV.${LEDGER_BUCKET}.ev.*.${project}.>`,
        why: `flush() watches ledger updates of project ${project} only (an ordered consumer; the server refuses a body whose filter differs from this subject's)`,
      },
      {
        subject: `${API}.CONSUMER.DELETE.${LEDGER_STREAM}.>`,
        why: "an ordered watch deletes the consumer it replaces (names are random and cannot be listed)",
      },
      { subject: `$JS.FC.KV_${LEDGER_BUCKET}.>`, why: "flow-control replies of the ledger watch" },
      {
        subject: `${API}.STREAM.MSG.GET.${blobStream(project)}`,
        why: `stage a blob in bucket ${bucket} only: whether it exists, an older object of the name; remove its own blob after a refused publish`,
      },
      {
        subject: `${API}.STREAM.INFO.${blobStream(project)}`,
        why: `an object store client's open() of bucket ${bucket} reads its stream info first (its own bucket's only)`,
      },
      {
        subject: `$O.${bucket}.C.>`,
        why: `stage a blob in bucket ${bucket} only: object chunks; a failed put rolls its own chunks up`,
      },
      {
        subject: `$O.${bucket}.M.>`,
        why: `stage a blob in bucket ${bucket} only: object metadata, written after the last chunk`,
      },
    ],
    subscribe: [repliesOf(user)],
  };
}

/**
 * An uploader of one destination (token `s3_main` for `s3:main`): pulls and acks only its own
 * consumers (its events and its DLQ replays), writes only its own destination's ledger entries
 * and key leases, dead-letters to its own DLQ subject, reads and deletes staged blobs of every
 * project. It cannot touch another destination's consumer or entries, publish events or replays,
 * create or purge a bucket, or change topology.
 */
export function uploaderPermissions(
  destinationToken: string,
  user = uploaderUserName(destinationToken),
): RolePermissions {
  checkDestinationToken(destinationToken);
  const consumers = [consumerName(destinationToken), replayConsumerName(destinationToken)];
  return {
    publish: [
      ACCOUNT_INFO,
      ...consumers.flatMap((consumer) => [
        {
          subject: `${API}.CONSUMER.INFO.${EVENTS_STREAM}.${consumer}`,
          why: "consumers.get() binds to its consumer; fetch() re-checks it after missed heartbeats",
        },
        { subject: `${API}.CONSUMER.MSG.NEXT.${EVENTS_STREAM}.${consumer}`, why: `fetch() from ${consumer}` },
        { subject: `$JS.ACK.${EVENTS_STREAM}.${consumer}.>`, why: "ack, nak(delay), working(), term()" },
      ]),
      {
        subject: `${API}.STREAM.MSG.GET.${EVENTS_STREAM}`,
        why: "coalescing: streams.getMessage(ARTIFACTS, { last_by_subj })",
      },
      { subject: LIST_DESTINATIONS, why: "blob release: which destinations took the event (consumers.list)" },
      {
        subject: LIST_DESTINATION_NAMES,
        why: "blob release: whether the destinations changed since the last listing (names only, cheap)",
      },
      { subject: dlqSubject(destinationToken), why: "dead letters of this destination only" },
      {
        subject: `$KV.${LEDGER_BUCKET}.ev.${destinationToken}.>`,
        why: "ledger writes of its own destination only (put, create, update)",
      },
      {
        subject: `$KV.${LEDGER_BUCKET}.${LEASE_KEY_PREFIX}.${destinationToken}.>`,
        why: "key-lease writes of its own destination only (create, update)",
      },
      {
        subject: `$KV.${LEDGER_BUCKET}.${RESUME_KEY_PREFIX}.${destinationToken}.>`,
        why: "resume records of its own destination only (create, update, delete)",
      },
      {
        subject: `$KV.${LEDGER_BUCKET}.${SET_KEY_PREFIX}.${destinationToken}.>`,
        why: "checkpoint-set records of its own destination only (create, update)",
      },
      {
        subject: `$KV.${LEDGER_BUCKET}.${REPLICA_KEY_PREFIX}.${destinationToken}.>`,
        why: "replica heartbeats (liveness, breaker state) of its own destination only",
      },
      { subject: LEDGER_READ, why: `ledger and lease reads: ${LEDGER_READ_HOW}` },
      ANY_BLOB_READ,
      { subject: `${API}.STREAM.NAMES`, why: "blob sweeper: which project buckets exist" },
      { subject: "$O.*.M.>", why: "blob delete in any project's bucket: the object's delete marker (a rollup)" },
      {
        subject: "$O.*.C.>",
        why: "blob delete in any project's bucket: a rollup of the object's chunks; no purge API, which could empty a bucket",
      },
    ],
    subscribe: [repliesOf(user)],
  };
}

/**
 * The HTTP gateway: publishes events of any project (it checks each request's project against
 * the caller's token itself), stages blobs in any project's object store bucket, reads events,
 * the ledger, destination consumers and dead letters, records its idempotency keys, and publishes
 * DLQ replays and destination pauses for admin requests (which mark the replayed ledger entry). It cannot consume a
 * destination's events, create a bucket, change topology or purge anything.
 */
export function gatewayPermissions(user = GATEWAY_USER): RolePermissions {
  return {
    publish: [
      { subject: `${EVENTS_PREFIX}.>`, why: "PUT and POST artifacts: events of any project (scoped by token)" },
      ACCOUNT_INFO,
      { subject: LIST_DESTINATIONS, why: "which destinations take an event (consumers.list)" },
      { subject: LIST_DESTINATION_NAMES, why: "its publisher: whether the destinations changed (names only)" },
      {
        subject: `${API}.CONSUMER.INFO.${EVENTS_STREAM}.*`,
        why: "GET /v1/destinations: pending and redelivered counts of each destination's consumer",
      },
      {
        subject: `${API}.STREAM.INFO.${EVENTS_STREAM}`,
        why: "a run's artifacts: the stream's subjects of that run (subjects_filter)",
      },
      {
        subject: `${API}.STREAM.MSG.GET.${EVENTS_STREAM}`,
        why: "read events: the newest per subject (last_by_subj), one by sequence",
      },
      { subject: LEDGER_READ, why: `status and wait read the ledger: ${LEDGER_READ_HOW}` },
      // Without these its publisher checks no name rules: a reserved name would be taken and die at the destination.
      ...topologyReads("its publisher (PUT refuses a name a destination refuses; GET .../name-rules)"),
      {
        subject: `${API}.CONSUMER.CREATE.KV_${LEDGER_BUCKET}.>`,
        why: "/wait watches ledger updates; kv.keys() finds an event's entries",
      },
      {
        subject: `${API}.STREAM.INFO.KV_${LEDGER_BUCKET}`,
        why: "GET /v1/destinations: the replica heartbeats' keys (subjects_filter)",
      },
      { subject: `${API}.CONSUMER.INFO.KV_${LEDGER_BUCKET}.>`, why: "kv.keys() asks its consumer how many keys match" },
      { subject: `${API}.CONSUMER.DELETE.KV_${LEDGER_BUCKET}.>`, why: "stops those watches" },
      { subject: `$JS.FC.KV_${LEDGER_BUCKET}.>`, why: "flow-control replies of the ledger watches" },
      {
        subject: `$KV.${LEDGER_BUCKET}.${GATEWAY_INDEX_PREFIX}.>`,
        why: "its own records: event id -> project, run, sequence and answer (status, Idempotency-Key)",
      },
      {
        subject: `$KV.${LEDGER_BUCKET}.ev.>`,
        why: "POST /v1/dead-letters/replay marks the replayed entry pending, as `artifact-bus dlq replay` does",
      },
      { subject: `${REPLAY_PREFIX}.>`, why: "POST /v1/dead-letters/replay (admin tokens only)" },
      {
        subject: `$KV.${LEDGER_BUCKET}.${PAUSE_KEY_PREFIX}.>`,
        why: "pause and resume a destination for admin tokens, as `artifact-bus pause` and `resume` do (put, delete)",
      },
      { subject: `${API}.STREAM.INFO.${DLQ_STREAM}`, why: "dead letters per destination (subjects_filter)" },
      { subject: `${API}.STREAM.MSG.GET.${DLQ_STREAM}`, why: "GET /v1/dead-letters and replays read the letters" },
      ANY_BLOB_READ,
      {
        subject: "$O.*.C.>",
        why: "stage a body in its project's bucket (scoped by token): object chunks; remove a refused one: a chunk rollup",
      },
      {
        subject: "$O.*.M.>",
        why: "stage a body in its project's bucket (scoped by token): object metadata after the last chunk; a delete marker",
      },
    ],
    subscribe: [repliesOf(user)],
  };
}

/** Operators: topology (streams, consumers, buckets), DLQ inspection and replay. The whole account. */
export function adminPermissions(): RolePermissions {
  const why = "topology, DLQ and any repair: everything in this account (not the system account)";
  return { publish: [{ subject: ">", why }], subscribe: [{ subject: ">", why }] };
}

const trainerUserName = (project: string) => `trainer-${project}`;
const uploaderUserName = (destinationToken: string) => `uploader-${destinationToken}`;
const GATEWAY_USER = "gateway";

/** Conventional user `trainer-<project>` with password from `NATS_TRAINER_<PROJECT>_PASSWORD`. */
export function trainerUser(project: string): NatsUser {
  return {
    user: trainerUserName(project),
    password: { env: envName("TRAINER", project) },
    role: `trainer of project ${project}`,
    permissions: trainerPermissions(project),
  };
}

/** Conventional user `uploader-<token>` with password from `NATS_UPLOADER_<TOKEN>_PASSWORD`. */
export function uploaderUser(destinationToken: string): NatsUser {
  return {
    user: uploaderUserName(destinationToken),
    password: { env: envName("UPLOADER", destinationToken) },
    role: `uploader of destination ${destinationFromToken(destinationToken)}`,
    permissions: uploaderPermissions(destinationToken),
  };
}

/** Conventional user `gateway` with password from `NATS_GATEWAY_PASSWORD`. */
export function gatewayUser(): NatsUser {
  return {
    user: GATEWAY_USER,
    password: { env: "NATS_GATEWAY_PASSWORD" },
    role: "HTTP gateway (services/gateway)",
    permissions: gatewayPermissions(),
  };
}

/** Conventional user `admin` with password from `NATS_ADMIN_PASSWORD`. */
export function adminUser(): NatsUser {
  return { user: "admin", password: { env: "NATS_ADMIN_PASSWORD" }, role: "operator", permissions: adminPermissions() };
}

/**
 * The users of a deployment: `admin`, `gateway`, a trainer per project and an uploader per
 * destination (names like `s3:main`).
 */
export function deploymentUsers(projects: string[], destinations: string[]): NatsUser[] {
  return [
    adminUser(),
    gatewayUser(),
    ...projects.map(trainerUser),
    ...destinations.map((d) => uploaderUser(parseDestinationName(d).token)),
  ];
}

/** Users of the committed sample: the ones the docker-compose stack runs with. */
export function sampleUsers(): NatsUser[] {
  return deploymentUsers(["demo"], ["s3:minio", "sftp:archive", "wandb:team", "dir:archive"]);
}

function checkDestinationToken(token: string): void {
  // Round-trip through the destination name grammar: no dots, no wildcards, no spaces.
  let ok = false;
  try {
    ok = parseDestinationName(destinationFromToken(token)).token === token;
  } catch {}
  if (!ok) throw new Error(`destination token ${JSON.stringify(token)} must look like <kind>_<name>, e.g. s3_main`);
}

function envName(role: string, token: string): string {
  return `NATS_${role}_${token.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_PASSWORD`;
}
