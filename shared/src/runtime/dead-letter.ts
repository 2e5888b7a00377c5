/**
 * Dead letters: the runtime publishes a DLQ entry (with the original event and the error) to
 * `artifacts.v1.dlq.<destinationToken>` before it `term`s the message, so the reason is kept and
 * the entry can be replayed. Publishing is deduplicated per (destination, stream sequence).
 */
import type { JetStreamClient, JetStreamManager, MsgRequest } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { dlqSubject } from "../event/subjects.ts";
import { DLQ_STREAM, DLQ_SUBJECTS } from "../nats/topology-names.ts";

export interface DeadLetter {
  destination: string;
  /** Why it is dead, e.g. "PermanentError: AccessDenied ..." or "invalid event: name: ...". */
  reason: string;
  errorClass: "permanent" | "transient" | "invalid";
  attempts: number;
  streamSeq: number;
  subject: string;
  eventId?: string;
  /** The original payload as text: the event when valid, whatever was sent when not. */
  payload: string;
  failedAt: string;
}

export async function publishDeadLetter(js: JetStreamClient, destinationToken: string, letter: DeadLetter) {
  const h = headers();
  h.set("Artifact-Bus-Reason", letter.reason.replace(/[\r\n]+/g, " ").slice(0, 512));
  await js.publish(dlqSubject(destinationToken), JSON.stringify(letter), {
    msgID: `${destinationToken}-${letter.streamSeq}`,
    headers: h,
  });
}

/**
 * Reads dead letters in stream order, optionally of one destination. Uses message get by
 * subject (`next_by_subj`), which nats-server 2.9 has, rather than a filtered consumer.
 */
export async function* readDeadLetters(
  jsm: JetStreamManager,
  opts: { destinationToken?: string; limit?: number } = {},
): AsyncGenerator<DeadLetter & { seq: number }> {
  const subject = opts.destinationToken ? dlqSubject(opts.destinationToken) : DLQ_SUBJECTS;
  let seq = 1;
  for (let n = 0; n < (opts.limit ?? Number.POSITIVE_INFINITY); n++) {
    // The server takes next_by_subj on STREAM.MSG.GET; the client only types it for direct get.
    const m = await jsm.streams.getMessage(DLQ_STREAM, { next_by_subj: subject, seq } as unknown as MsgRequest);
    if (!m) return;
    yield { ...m.json<DeadLetter>(), seq: m.seq };
    seq = m.seq + 1;
  }
}
