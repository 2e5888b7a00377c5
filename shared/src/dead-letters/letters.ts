/**
 * Dead letters: the runtime publishes a DLQ entry (the original payload and the error) to
 * `artifacts.v1.dlq.<destinationToken>` before it terminates the message, so the reason is kept
 * and the entry can be replayed. One death gives one letter: the publish is deduplicated per
 * (destination, event, replay), and the ledger keeps the letter's sequence, so a redelivery of a
 * dead event never writes another one.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import type { DeadClass } from "../contract/ledger-entry.ts";
import { dlqSubject, parseEventSubject } from "../contract/subjects.ts";
import { scanMessages } from "../nats/message-scan.ts";
import { DLQ_STREAM, DLQ_SUBJECTS } from "../nats/topology-names.ts";

export interface DeadLetter {
  destination: string;
  /** Why it is dead, e.g. "PermanentError: blob missing ..." or "invalid event: project: ...". */
  reason: string;
  errorClass: DeadClass;
  /** Upload attempts made (0 for an invalid event). */
  attempts: number;
  /** Stream sequence that orders the event among its key's versions (a replay keeps its original's). */
  streamSeq: number;
  /** The events subject of the artifact (for a replay too). */
  subject: string;
  /** The event's id, when it had a well-formed one. */
  eventId?: string;
  /** Project and run, from the subject. */
  project?: string;
  run?: string;
  /** When a replay died again: the DLQ entry it replayed. */
  replayDlqSeq?: number;
  /** The original payload as text: the event when valid, whatever was sent when not. */
  payload: string;
  failedAt: string;
}

/** Publishes a letter; returns its sequence in the DLQ stream (the first one's, for a duplicate). */
export async function publishDeadLetter(
  js: JetStreamClient,
  destinationToken: string,
  letter: DeadLetter,
): Promise<number> {
  const h = headers();
  h.set("Artifact-Bus-Reason", letter.reason.replace(/[\r\n]+/g, " ").slice(0, 512));
  // One letter per death of one message: its stream sequence, not its id, which the producer
  // chose and another message may carry (that one's letter must not be taken for this one's).
  const ack = await js.publish(dlqSubject(destinationToken), JSON.stringify(letter), {
    msgID: `dlq.${destinationToken}.seq${letter.streamSeq}.${letter.replayDlqSeq ?? 0}`,
    headers: h,
  });
  return ack.seq;
}

/**
 * Reads dead letters in stream order, optionally of one destination, by message gets (see
 * message-scan.ts) rather than a filtered consumer.
 */
export async function* readDeadLetters(
  jsm: JetStreamManager,
  opts: {
    destinationToken?: string;
    limit?: number;
    fromSeq?: number;
    /** Only letters of the projects this accepts (see letterProject); default all. */
    inProject?: (project: string | undefined) => boolean;
  } = {},
): AsyncGenerator<DeadLetter & { seq: number }> {
  const subject = opts.destinationToken ? dlqSubject(opts.destinationToken) : DLQ_SUBJECTS;
  const limit = opts.limit ?? Number.POSITIVE_INFINITY;
  // Written `!(n < limit)` so that a NaN limit reads nothing, as a zero one does.
  let n = 0;
  if (!(n < limit)) return;
  for await (const m of scanMessages(jsm, DLQ_STREAM, subject, { fromSeq: opts.fromSeq ?? 1 })) {
    const letter = m.json<DeadLetter>();
    if (opts.inProject && !opts.inProject(letterProject(letter))) continue;
    n++;
    yield { ...letter, seq: m.seq };
    if (!(n < limit)) return;
  }
}

/**
 * The project a letter belongs to: its events subject's, which NATS permissions vouch for (never
 * the payload's). Undefined for a message on no artifact subject: only operators of every project
 * see those.
 */
export function letterProject(letter: Pick<DeadLetter, "subject">): string | undefined {
  return parseEventSubject(letter.subject)?.project;
}
