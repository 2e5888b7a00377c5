/**
 * Replays dead letters. A replay is the original event, unchanged, published on the replay subject
 * of its destination (only operators may publish there, so no producer can forge one), with the
 * original stream sequence and the DLQ entry in headers: only that destination takes it, and it
 * keeps the original's place in its key's order, so it never overwrites a newer version.
 * A letter is replayed only while it records the event's latest death there; the ledger entry
 * then says `pending` with `replayDlqSeq`, so a second replay of the same letter is skipped.
 * The uploader refuses a replay whose blob is gone ({@link replayRefusal}) rather than letting it
 * die again as "blob missing" with a second letter.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import type { BlobStores } from "../blob/mod.ts";
import { admitEvent, type Delivery, DLQ_SEQ_HEADER, ORDER_SEQ_HEADER } from "../contract/admission.ts";
import { parseDestinationName } from "../contract/destination-name.ts";
import type { ArtifactEventV1 } from "../contract/schema.ts";
import { replaySubject } from "../contract/subjects.ts";
import type { Ledger } from "../ledger/ledger.ts";
import { type DeadLetter, readDeadLetters } from "./letters.ts";

export interface ReplayResult {
  /** Stream sequence of the DLQ entry. */
  dlqSeq: number;
  eventId?: string;
  /** The replayed event, when it was sent again. */
  replayed?: ArtifactEventV1;
  /** Why it was not sent again. */
  skipped?: string;
}

export async function replayDeadLetters(
  js: JetStreamClient,
  jsm: JetStreamManager,
  ledger: Ledger,
  destination: string,
  opts: {
    seqs?: number[];
    /** Only letters of the projects this accepts (the caller's); default all. */
    inProject?: (project: string | undefined) => boolean;
  } = {},
): Promise<ReplayResult[]> {
  const token = parseDestinationName(destination).token;
  const results: ReplayResult[] = [];
  const scope = opts.inProject ? { inProject: opts.inProject } : {};
  for await (const letter of readDeadLetters(jsm, { destinationToken: token, ...scope })) {
    if (opts.seqs && !opts.seqs.includes(letter.seq)) continue;
    results.push(await replayOne(js, ledger, destination, token, letter));
  }
  return results;
}

async function replayOne(
  js: JetStreamClient,
  ledger: Ledger,
  destination: string,
  token: string,
  letter: DeadLetter & { seq: number },
): Promise<ReplayResult> {
  const dlqSeq = letter.seq;
  // Admitted against the letter's subject as the uploader admits events: a body that claims
  // another project, run or name than its subject is never sent again, on any replay subject.
  const admitted = admitEvent(letter.subject, new TextEncoder().encode(letter.payload), letter.streamSeq);
  if (!admitted.ok) return { dlqSeq, eventId: letter.eventId, skipped: `not a valid event: ${admitted.reason}` };
  const { event } = admitted;
  const ref = { project: event.project, run: event.run, eventId: event.id };
  const entry = await ledger.getOf(token, ref, letter.streamSeq);
  if (!entry) return { dlqSeq, eventId: event.id, skipped: "no ledger entry (expired): its blob is gone too" };
  if (entry.replayDlqSeq === dlqSeq) {
    // A refused replay (its blob gone) says why again.
    const why = entry.state === "dead" && entry.error ? `: ${entry.error}` : "";
    return { dlqSeq, eventId: event.id, skipped: `already replayed (${entry.state}${why})` };
  }
  if (entry.state !== "dead" || entry.dlqSeq !== dlqSeq) {
    return { dlqSeq, eventId: event.id, skipped: `not its latest death here (it is ${entry.state} now)` };
  }
  const h = headers();
  h.set(ORDER_SEQ_HEADER, String(letter.streamSeq));
  h.set(DLQ_SEQ_HEADER, String(dlqSeq));
  // Published first, marked second: a crash between them leaves a replay that the uploader
  // recognises from the dead entry itself; the message id keeps a re-run from publishing twice.
  await js.publish(replaySubject(token, event), letter.payload, { msgID: `replay.${token}.${dlqSeq}`, headers: h });
  // Unless the uploader already took the replay (it can be faster than this write): a refusal
  // leaves the entry dead under this same letter, marked with replayDlqSeq, and must stay so.
  await ledger.update(token, ref, (cur) =>
    cur?.state === "dead" && cur.dlqSeq === dlqSeq && cur.replayDlqSeq !== dlqSeq
      ? {
          ...cur,
          state: "pending",
          attempts: 0,
          replayDlqSeq: dlqSeq,
          error: `replay of DLQ entry ${dlqSeq} queued for ${destination}`,
        }
      : undefined,
  );
  return { dlqSeq, eventId: event.id, replayed: event };
}

/**
 * Why a replay delivery cannot land, or undefined if it can: its blob is gone (expired or swept,
 * or removed by hand). Dying again would only write a second letter saying "blob missing"; the
 * uploader refuses it instead, and the letter it replayed stays the event's latest death.
 */
export async function replayRefusal(blobs: BlobStores, delivery: Delivery): Promise<string | undefined> {
  if (delivery.replayDlqSeq === undefined) return undefined;
  const { blob, createdAt } = delivery.event;
  // A store this uploader lacks is the upload's to report, as for any event.
  if (!blobs.has(blob.store) || (await blobs.get(blob.store).exists(blob))) return undefined;
  return (
    `replay of DLQ entry ${delivery.replayDlqSeq} refused: blob ${blob.store}:${blob.ref} is gone (staged ${createdAt}, ` +
    `expired or swept since); nothing was uploaded, and the letter is kept for its record`
  );
}
