/**
 * What a grant is, and the grants more than one role holds: its own reply inboxes, account info,
 * the destination listing, ledger reads and the topology records, blobs of every project. Each
 * role's own grants (trainer-grants.ts, uploader-grants.ts, gateway-grants.ts) are built from
 * these; grants.ts says which users hold them.
 */

import { userInboxPrefix } from "../../config/inbox-prefix.ts";
import {
  BLOB_BUCKET_PREFIX,
  EVENTS_STREAM,
  filterRecordKey,
  LEDGER_BUCKET,
  nameRulesRecordKey,
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

/** Prefix of every JetStream API subject. */
export const API = "$JS.API";
/** The stream behind the ledger bucket. */
export const LEDGER_STREAM = `KV_${LEDGER_BUCKET}`;

/** Replies to `user`'s requests, in inboxes only it may subscribe to (config/inbox-prefix.ts). */
export function repliesOf(user: string): Grant {
  return {
    subject: `${userInboxPrefix(user)}.>`,
    why: "replies: PubAcks, API responses, fetched messages (its own inboxes only: others' replies carry their events and blobs)",
  };
}

/** Every role's client opens a JetStream manager. */
export const ACCOUNT_INFO: Grant = { subject: `${API}.INFO`, why: "jetstreamManager() reads account info first" };
/** consumers.list of the events stream: which destinations there are and what each takes. */
export const LIST_DESTINATIONS = `${API}.CONSUMER.LIST.${EVENTS_STREAM}`;
/** The names alone of those consumers: whether the destinations changed, cheaply. */
export const LIST_DESTINATION_NAMES = `${API}.CONSUMER.NAMES.${EVENTS_STREAM}`;
/** A message get from the ledger stream: how a Kvm.open() bucket reads a key. */
export const LEDGER_READ = `${API}.STREAM.MSG.GET.${LEDGER_STREAM}`;
/**
 * How {@link LEDGER_READ} is used, for the grants that carry it. Kvm.open() binds without reading
 * the stream config, so kv.get() never uses direct get.
 */
export const LEDGER_READ_HOW = "kv.get() on the bucket from Kvm.open(): STREAM.MSG.GET, not direct get";

/**
 * Blob buckets of every project (`OBJ_artifact_blobs_<project>`), for the roles that serve every
 * project. A stream name is one subject token and wildcards match whole tokens only, so this
 * grant covers the message get of every stream in the account: read only. NatsBlobStore reads
 * objects by message get alone (no consumer, whose create API could also change consumers).
 */
export const ANY_BLOB_READ: Grant = {
  subject: `${API}.STREAM.MSG.GET.*`,
  why: `blobs of any project's bucket ${BLOB_BUCKET_PREFIX}<project>: object metadata and chunks by message get (a stream name is one token, so every stream, read only)`,
};

/** The subject of a direct get of ledger key `key` (the key is in the subject, so a grant can scope it). */
export const directGet = (key: string) => `${API}.DIRECT.GET.${LEDGER_STREAM}.$KV.${LEDGER_BUCKET}.${key}`;

/** The records every publisher reads by direct get: the topology stamp, each destination's filter and name rules. */
export function topologyReads(who: string): Grant[] {
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
