/**
 * The grants of a trainer of one project: its project's events, its project's blob bucket, its
 * project's ledger entries for flush(), and nothing of any other project's.
 */

import { checkSubjectToken } from "../../contract/names.ts";
import { EVENTS_PREFIX } from "../../contract/subjects.ts";
import { blobBucket, blobStream, LEDGER_BUCKET } from "../topology-names.ts";
import {
  ACCOUNT_INFO,
  API,
  directGet,
  type Grant,
  LEDGER_STREAM,
  LIST_DESTINATION_NAMES,
  LIST_DESTINATIONS,
  type RolePermissions,
  repliesOf,
  topologyReads,
} from "./common-grants.ts";

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

/** The conventional trainer user of `project`, whose reply inboxes its grants name by default. */
export const trainerUserName = (project: string) => `trainer-${project}`;
