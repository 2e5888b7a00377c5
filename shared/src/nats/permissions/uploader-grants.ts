/**
 * The grants of an uploader of one destination: its own consumers, ledger entries, key leases
 * and dead letters, and the staged blobs of every project it reads and removes.
 */

import { SET_KEY_PREFIX } from "../../contract/checkpoint-set.ts";
import { destinationFromToken, parseDestinationName } from "../../contract/destination-name.ts";
import { dlqSubject } from "../../contract/subjects.ts";
import {
  consumerName,
  EVENTS_STREAM,
  LEASE_KEY_PREFIX,
  LEDGER_BUCKET,
  REPLICA_KEY_PREFIX,
  RESUME_KEY_PREFIX,
  replayConsumerName,
} from "../topology-names.ts";
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
} from "./common-grants.ts";

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
 * The conventional uploader user of destination token `destinationToken`, whose reply inboxes its
 * grants name by default.
 */
export const uploaderUserName = (destinationToken: string) => `uploader-${destinationToken}`;

function checkDestinationToken(token: string): void {
  // Round-trip through the destination name grammar: no dots, no wildcards, no spaces.
  let ok = false;
  try {
    ok = parseDestinationName(destinationFromToken(token)).token === token;
  } catch {}
  if (!ok) throw new Error(`destination token ${JSON.stringify(token)} must look like <kind>_<name>, e.g. s3_main`);
}
