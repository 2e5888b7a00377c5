/**
 * Telling a ledger entry the server lost from one the uploader never wrote. nats-server 2.9.10,
 * the one Debian ships, can lose an acknowledged write of a replicated stream when nodes are
 * killed and restarted (nats-io/nats-server#3870, #4351). The uploaders log, at debug, the
 * revision each verdict was written at ("recorded"): an entry a leader read finds missing after
 * that, with nothing in the bus that deletes entries, was lost by the server.
 */
import { LEDGER_BUCKET } from "@artifact-bus/shared";
import type { LogLine } from "@artifact-bus/testkit";
import type { JetStreamManager } from "@nats-io/jetstream";

/** The revision an uploader logged an event's verdict written at, if any. */
export function recordedRevision(uploaders: { lines: LogLine[] }[], eventId: string): number | undefined {
  for (const u of uploaders) {
    for (const l of u.lines) {
      if (l.msg === "recorded" && l.eventId === eventId && typeof l.revision === "number") return l.revision;
    }
  }
  return undefined;
}

/**
 * Whether the ledger stream's leader still holds the message at `revision` under the key of
 * `eventId`: a verdict the server kept (so a read saying "no entry" would be the bus's bug).
 */
export async function ledgerStillHolds(jsm: JetStreamManager, revision: number, eventId: string): Promise<boolean> {
  const m = await jsm.streams.getMessage(`KV_${LEDGER_BUCKET}`, { seq: revision });
  return !!m && m.subject.endsWith(`.${eventId}`);
}
