/**
 * Finding events. The stream ARTIFACTS is the truth about which versions exist: a run's subjects
 * (`artifacts.v1.events.<project>.<run>.<level>.<key>`) come from the stream's subject counts,
 * and a name's newest version is the last message on its subjects. An event id is found through
 * the gateway's own record (`idx.<id>` in the ledger bucket, written when it published the
 * event, holding the answer it gave) or, for events other producers published, through the
 * ledger entries the uploaders wrote (which carry the event's stream sequence).
 */
import {
  type ArtifactEventV1,
  decodeEvent,
  EVENTS_PREFIX,
  EVENTS_STREAM,
  GATEWAY_INDEX_PREFIX,
  LEDGER_BUCKET,
  type LedgerEntry,
  parseEventSubject,
} from "@artifact-bus/shared";
import type { JetStreamManager, MsgRequest } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { AcceptedBody } from "./schemas.ts";

/** An event and its place in the stream. */
export interface StoredEvent {
  event: ArtifactEventV1;
  streamSeq: number;
}

/** What the gateway records per event it published. */
export interface IndexRecord {
  project: string;
  run: string;
  streamSeq: number;
  answer: AcceptedBody;
}

/** Versions of one name in a run: the subjects (one per level it was logged at) sharing its key. */
export interface NameGroup {
  key: string;
  subjects: string[];
}

export class EventIndex {
  private readonly jsm: JetStreamManager;
  private readonly kv: KV;

  private readonly nc: NatsConnection;
  /** Records waiting for the end of this turn of the event loop (see sendRecord). */
  private unsent: [string, string][] = [];

  constructor(jsm: JetStreamManager, kv: KV, nc: NatsConnection) {
    this.jsm = jsm;
    this.kv = kv;
    this.nc = nc;
  }

  /** The gateway's record of `id`, if it published it. */
  async record(id: string): Promise<IndexRecord | undefined> {
    const e = await this.kv.get(`${GATEWAY_INDEX_PREFIX}.${id}`);
    return e?.operation === "PUT" ? e.json<IndexRecord>() : undefined;
  }

  async putRecord(id: string, record: IndexRecord): Promise<void> {
    await this.kv.put(`${GATEWAY_INDEX_PREFIX}.${id}`, JSON.stringify(record));
  }

  /**
   * Writes the record without waiting for its acknowledgement (a core publish to the bucket's
   * subject). Records of the requests answered in one turn of the event loop go out together, in
   * one socket write instead of one each (with 16 clients, a write per record was about 8% of
   * the gateway's time on small PUTs).
   */
  sendRecord(id: string, record: IndexRecord): void {
    if (this.unsent.push([`$KV.${LEDGER_BUCKET}.${GATEWAY_INDEX_PREFIX}.${id}`, JSON.stringify(record)]) > 1) return;
    setImmediate(() => {
      const batch = this.unsent;
      this.unsent = [];
      try {
        for (const [subject, data] of batch) this.nc.publish(subject, data);
      } catch {
        // Closed meanwhile (a gateway stopping): the records were best effort, as documented.
      }
    });
  }

  /** The event at `seq`; undefined when it expired or is no event. */
  async at(seq: number): Promise<StoredEvent | undefined> {
    const m = await this.jsm.streams.getMessage(EVENTS_STREAM, { seq }).catch(notFound);
    return m?.subject.startsWith(`${EVENTS_PREFIX}.`) ? { event: decodeEvent(m.data), streamSeq: m.seq } : undefined;
  }

  /** The event with id `id`, by the gateway's record or by its ledger entries. */
  async byId(id: string): Promise<StoredEvent | undefined> {
    const record = await this.record(id);
    if (record) return this.at(record.streamSeq);
    // Any destination's entry will do: each carries the event's stream sequence. A replay's
    // entry carries its original's sequence, which is the same event.
    for await (const key of await this.kv.keys(`ev.*.*.*.${id}`)) {
      const e = await this.kv.get(key);
      if (e?.operation !== "PUT") continue;
      const found = await this.at(e.json<LedgerEntry>().streamSeq);
      if (found?.event.id === id) return found;
    }
    return undefined;
  }

  /** The run's names as groups of subjects, sorted by key (the order pages follow). */
  async runNames(project: string, run: string): Promise<NameGroup[]> {
    const info = await this.jsm.streams.info(EVENTS_STREAM, {
      subjects_filter: `${EVENTS_PREFIX}.${project}.${run}.*.*`,
    });
    const groups = new Map<string, string[]>();
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const tokens = parseEventSubject(subject);
      if (!tokens) continue;
      groups.set(tokens.key, [...(groups.get(tokens.key) ?? []), subject]);
    }
    return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, subjects]) => ({ key, subjects }));
  }

  /** The newest version among a group's subjects. */
  async newest(group: NameGroup): Promise<StoredEvent | undefined> {
    const last = await Promise.all(
      group.subjects.map((s) => this.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: s }).catch(notFound)),
    );
    const m = last.reduce((a, b) => (b && (!a || b.seq > a.seq) ? b : a), undefined);
    return m ? { event: decodeEvent(m.data), streamSeq: m.seq } : undefined;
  }

  /**
   * Every version of one name in a run, newest first (at most `limit`), read message by message
   * (`next_by_subj`, as nats-server 2.9 has it) across the levels it was logged at.
   */
  async versions(project: string, run: string, key: string, limit = 1000): Promise<StoredEvent[]> {
    const out: StoredEvent[] = [];
    const filter = `${EVENTS_PREFIX}.${project}.${run}.*.${key}`;
    for (let seq = 1; out.length < limit; ) {
      const req = { next_by_subj: filter, seq } as unknown as MsgRequest;
      const m = await this.jsm.streams.getMessage(EVENTS_STREAM, req).catch(notFound);
      if (!m) break;
      out.push({ event: decodeEvent(m.data), streamSeq: m.seq });
      seq = m.seq + 1;
    }
    return out.reverse();
  }
}

/** A message get that found nothing answers 404 "no message found": undefined, not an error. */
function notFound(err: unknown): undefined {
  if (/no message found|not found/i.test((err as Error)?.message ?? "")) return undefined;
  throw err;
}
