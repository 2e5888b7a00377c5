/**
 * The grants of the HTTP gateway: events and blobs of any project (it scopes each request by its
 * caller's token itself), reads for status, waits and dead letters, and the admin requests it
 * serves (DLQ replays, pauses).
 */

import { EVENTS_PREFIX, REPLAY_PREFIX } from "../../contract/subjects.ts";
import { DLQ_STREAM, EVENTS_STREAM, GATEWAY_INDEX_PREFIX, LEDGER_BUCKET, PAUSE_KEY_PREFIX } from "../topology-names.ts";
import {
  ACCOUNT_INFO,
  ANY_BLOB_READ,
  API,
  LEDGER_READ,
  LEDGER_READ_HOW,
  LIST_DESTINATION_NAMES,
  LIST_DESTINATIONS,
  type RolePermissions,
  repliesOf,
  topologyReads,
} from "./common-grants.ts";

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

/** The conventional gateway user, whose reply inboxes its grants name by default. */
export const GATEWAY_USER = "gateway";
