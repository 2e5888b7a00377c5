/**
 * Reading a stream's messages on a subject (wildcards allowed) one by one, in sequence order,
 * with stream message gets by subject (`next_by_subj` on `$JS.API.STREAM.MSG.GET.<stream>`,
 * which nats-server has since 2.9). A message get only reads, where a filtered consumer would
 * need the right to create consumers on the stream. The nats.js v3 client types `next_by_subj`
 * only for direct get (another API, which a stream must allow); this module is the one place
 * that asks a message get for it.
 */
import { JetStreamApiCodes, type JetStreamManager, type StoredMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";

/** Where a message get by subject starts. */
export interface NextQuery {
  /** Subject filter of the messages wanted; wildcards allowed. */
  subject: string;
  /** The first sequence that may answer (inclusive). */
  fromSeq: number;
}

/**
 * The first message on `subject` at or after `fromSeq`; null when there is none. Other failures
 * (no such stream, say) reject as the client's getMessage does.
 */
export function nextMessage(jsm: JetStreamManager, stream: string, q: NextQuery): Promise<StoredMsg | null> {
  // A query with a seq passes the client's type for a message get by sequence, and the client
  // sends the whole object as the request, next_by_subj included.
  const query: { seq: number; next_by_subj: string } = { seq: q.fromSeq, next_by_subj: q.subject };
  return jsm.streams.getMessage(stream, query);
}

/**
 * Every message on `subject` from `fromSeq` (default 1) on, in sequence order, one request per
 * message. With `beforeSeq`, stops before it: no request is made once the next sequence would
 * reach it, and a message at or past it is not yielded. Errors reject as nextMessage's do.
 */
export async function* scanMessages(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
  opts: { fromSeq?: number; beforeSeq?: number } = {},
): AsyncGenerator<StoredMsg> {
  const before = opts.beforeSeq ?? Number.POSITIVE_INFINITY;
  for (let seq = opts.fromSeq ?? 1; seq < before; ) {
    const m = await nextMessage(jsm, stream, { subject, fromSeq: seq });
    if (!m || m.seq >= before) return;
    seq = m.seq + 1;
    yield m;
  }
}

/** A message's sequence and payload, without its subject or headers. */
export interface MessageData {
  seq: number;
  data: Uint8Array;
}

/** A message get's answer, as nats-server sends it: the payload in base64. */
interface MsgGetAnswer {
  message?: { seq: number; data?: string };
  error?: { code: number; err_code: number; description: string };
}

/**
 * nextMessage's request, asked and decoded here rather than through the JetStream client, whose
 * decoding of a large payload (an object store chunk) doubles the time a big read takes. Resolves
 * null when there is no such message or no such stream; other errors of the server reject with
 * `reading <subject>: <description>`, and the request's own (timeout, no responders) as they are.
 */
export async function nextMessageData(
  nc: NatsConnection,
  stream: string,
  q: NextQuery,
  timeoutMs = 10_000,
): Promise<MessageData | null> {
  const request = JSON.stringify({ seq: q.fromSeq, next_by_subj: q.subject });
  const reply = await nc.request(`$JS.API.STREAM.MSG.GET.${stream}`, request, { timeout: timeoutMs });
  const answer = reply.json<MsgGetAnswer>();
  const code = answer.error?.err_code;
  if (code === JetStreamApiCodes.NoMessageFound || code === JetStreamApiCodes.StreamNotFound) return null;
  if (answer.error || !answer.message) {
    throw new Error(`reading ${q.subject}: ${answer.error?.description ?? "an answer without a message"}`);
  }
  return { seq: answer.message.seq, data: Buffer.from(answer.message.data ?? "", "base64") };
}
