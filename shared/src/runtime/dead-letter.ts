/**
 * Dead letters: the runtime publishes a DLQ entry (with the original event and the error) to
 * `artifacts.v1.dlq.<destinationToken>` before it `term`s the message, so the reason is kept and
 * the entry can be replayed. Publishing is deduplicated per (destination, stream sequence).
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { dlqSubject } from "../event/subjects.ts";

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
