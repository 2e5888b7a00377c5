/**
 * What an uploader believes of a message: only what its subject vouches for. NATS permissions are
 * per subject, so an event is acted on only if its body agrees with its subject (project, run,
 * level, name key) and its blob ref is exactly the one the store derives for (project, run, id).
 * Replays are honoured only on the replay subject, which only operators may publish to, and only
 * for the destination named in it.
 */
import type { MsgHdrs } from "@nats-io/transport-node";
import { blobKey } from "./blob-key.ts";
import { InvalidArtifactError } from "./names.ts";
import { type ArtifactEventV1, EVENT_ID_PATTERN, SUBJECT_TOKEN_PATTERN } from "./schema.ts";
import { artifactKey, eventsSubjectOf, parseEventSubject, parseReplaySubject, type SubjectTokens } from "./subjects.ts";
import { decodeEvent } from "./validate.ts";

/** Header of a replay: the stream sequence of the original event, whose place the replay keeps. */
export const ORDER_SEQ_HEADER = "Artifact-Bus-Order-Seq";
/** Header of a replay: the DLQ entry it replays. */
export const DLQ_SEQ_HEADER = "Artifact-Bus-Dlq-Seq";

/** An event the uploader may act on. */
export interface Delivery {
  event: ArtifactEventV1;
  /** Orders it among its key's versions: the stream sequence, or for a replay the original's. */
  orderSeq: number;
  /** The events subject of its key. */
  eventsSubject: string;
  /** For a replay: the DLQ entry it replays. */
  replayDlqSeq?: number;
}

/** Why a message is not acted on, with what can be trusted about it for the ledger and the DLQ. */
export interface Rejection {
  reason: string;
  /** The body's id, when it has a well-formed one. */
  eventId?: string;
  /** Project and run from the subject, when it is an artifact subject. */
  project?: string;
  run?: string;
  eventsSubject?: string;
}

export type Admission = ({ ok: true } & Delivery) | ({ ok: false } & Rejection);

const ID = new RegExp(EVENT_ID_PATTERN);
const TOKEN = new RegExp(SUBJECT_TOKEN_PATTERN);

/** Admits a message of an events subject (also used to look at the newest version of a key). */
export function admitEvent(subject: string, data: Uint8Array, seq = 0): Admission {
  const tokens = parseEventSubject(subject);
  if (!tokens) return reject(`subject: ${subject} is not an artifact events subject`, data);
  return admitBody(tokens, data, { orderSeq: seq });
}

/** Admits a delivery of this destination's events or replay consumer. */
export function admitDelivery(
  msg: { subject: string; data: Uint8Array; headers?: MsgHdrs | undefined; seq: number },
  destinationToken: string,
): Admission {
  const replay = parseReplaySubject(msg.subject);
  if (!replay) return admitEvent(msg.subject, msg.data, msg.seq);
  if (replay.destinationToken !== destinationToken) {
    return reject(`subject: replay for ${replay.destinationToken} delivered to ${destinationToken}`, msg.data, replay);
  }
  const orderSeq = positiveInt(msg.headers?.get(ORDER_SEQ_HEADER));
  const dlqSeq = positiveInt(msg.headers?.get(DLQ_SEQ_HEADER));
  if (orderSeq === undefined || dlqSeq === undefined) {
    return reject(`headers: a replay needs ${ORDER_SEQ_HEADER} and ${DLQ_SEQ_HEADER}`, msg.data, replay);
  }
  return admitBody(replay, msg.data, { orderSeq, replayDlqSeq: dlqSeq });
}

function admitBody(
  tokens: SubjectTokens,
  data: Uint8Array,
  order: { orderSeq: number; replayDlqSeq?: number },
): Admission {
  let event: ArtifactEventV1;
  try {
    event = decodeEvent(data);
  } catch (err) {
    const reason = err instanceof InvalidArtifactError ? err.message : String(err);
    return reject(reason, data, tokens);
  }
  const mismatch = (field: string, body: string, subject: string) =>
    reject(`${field}: the event says ${body}, its subject ${subject}`, data, tokens);
  if (event.project !== tokens.project) return mismatch("project", q(event.project), q(tokens.project));
  if (event.run !== tokens.run) return mismatch("run", q(event.run), q(tokens.run));
  if (event.level !== tokens.level) return mismatch("level", q(event.level), q(tokens.level));
  const key = artifactKey(event.name);
  if (key !== tokens.key) return mismatch("name", `${q(event.name)} (key ${key})`, `key ${tokens.key}`);
  const ref = blobKey(tokens.project, tokens.run, event.id);
  if (event.blob.ref !== ref) {
    return reject(`blob.ref: ${JSON.stringify(event.blob.ref)} must be ${JSON.stringify(ref)}`, data, tokens);
  }
  return { ok: true, event, eventsSubject: eventsSubjectOf(tokens), ...order };
}

function reject(reason: string, data: Uint8Array, tokens?: SubjectTokens): { ok: false } & Rejection {
  const trusted =
    tokens && TOKEN.test(tokens.project) && TOKEN.test(tokens.run)
      ? { project: tokens.project, run: tokens.run, eventsSubject: eventsSubjectOf(tokens) }
      : {};
  return { ok: false, reason: `invalid event: ${reason}`, ...readable(data), ...trusted };
}

/** The body's id, where the body is a JSON object with a well-formed one. */
function readable(data: Uint8Array): Pick<Rejection, "eventId"> {
  let body: { id?: unknown } | null;
  try {
    body = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return {};
  }
  const id = body?.id;
  return typeof id === "string" && ID.test(id) ? { eventId: id } : {};
}

const q = (s: string) => JSON.stringify(s);

function positiveInt(v: string | undefined): number | undefined {
  const n = Number(v);
  return v && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
