/**
 * Replays dead letters: the original event is published again under a new id, marked
 * `replayFor` its destination, so only that destination takes it and the others ack it
 * untouched. The staged blob of a dead event is kept for this until the sweeper's max age.
 */
import { randomUUID } from "node:crypto";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { ArtifactEventV1 } from "../event/schema.ts";
import { eventSubject } from "../event/subjects.ts";
import { decodeEvent, encodeEvent } from "../event/validate.ts";
import { readDeadLetters } from "./dead-letter.ts";
import { parseDestinationName } from "./destination-name.ts";

export interface ReplayResult {
  /** Stream sequence of the DLQ entry. */
  dlqSeq: number;
  originalId?: string;
  /** The new event, when the entry held a valid one. */
  replay?: ArtifactEventV1;
  /** Why the entry cannot be replayed (its payload was never a valid event). */
  skipped?: string;
}

export async function replayDeadLetters(
  js: JetStreamClient,
  jsm: JetStreamManager,
  destination: string,
  opts: { seqs?: number[] } = {},
): Promise<ReplayResult[]> {
  const token = parseDestinationName(destination).token;
  const results: ReplayResult[] = [];
  for await (const letter of readDeadLetters(jsm, { destinationToken: token })) {
    if (opts.seqs && !opts.seqs.includes(letter.seq)) continue;
    let original: ArtifactEventV1;
    try {
      original = decodeEvent(new TextEncoder().encode(letter.payload));
    } catch (err) {
      results.push({ dlqSeq: letter.seq, skipped: `not a valid event: ${(err as Error).message}` });
      continue;
    }
    const replay: ArtifactEventV1 = { ...original, id: randomUUID(), replayFor: destination, replayOf: original.id };
    await js.publish(eventSubject(replay), encodeEvent(replay), { msgID: replay.id });
    results.push({ dlqSeq: letter.seq, originalId: original.id, replay });
  }
  return results;
}
