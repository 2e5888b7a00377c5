/**
 * Finding events. The stream ARTIFACTS is the truth about which versions exist: a run's subjects
 * (`artifacts.v1.events.<project>.<run>.<level>.<key>`) come from the stream's subject counts,
 * and a name's newest version is the last message on its subjects. An event id is found through
 * the gateway's record (`idx.<id>` in the ledger bucket, written when it published the event)
 * or, for events other producers published, through the ledger entries the uploaders wrote
 * (which carry the event's stream sequence). The gateway and `artifact-bus status` both read
 * events this way.
 */
import type { JetStreamManager, MsgRequest } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { ArtifactEventV1 } from "../event/schema.ts";
import { EVENTS_PREFIX, parseEventSubject } from "../event/subjects.ts";
import { decodeEvent } from "../event/validate.ts";
import { EVENTS_STREAM, GATEWAY_INDEX_PREFIX } from "../nats/topology-names.ts";
import type { LedgerEntry } from "../runtime/ledger.ts";

/** An event and its place in the stream. */
export interface StoredEvent {
  event: ArtifactEventV1;
  streamSeq: number;
}

/** Versions of one name in a run: the subjects (one per level it was logged at) sharing its key. */
export interface NameGroup {
  key: string;
  subjects: string[];
}

export class EventLookup {
  protected readonly jsm: JetStreamManager;
  protected readonly kv: KV;

  /** `kv` is the ledger bucket. */
  constructor(jsm: JetStreamManager, kv: KV) {
    this.jsm = jsm;
    this.kv = kv;
  }

  /** The event at `seq`; undefined when it expired or is no event. */
  async at(seq: number): Promise<StoredEvent | undefined> {
    const m = await this.jsm.streams.getMessage(EVENTS_STREAM, { seq }).catch(notFound);
    return m?.subject.startsWith(`${EVENTS_PREFIX}.`) ? { event: decodeEvent(m.data), streamSeq: m.seq } : undefined;
  }

  /** The event with id `id`, by the gateway's record or by its ledger entries. */
  async byId(id: string): Promise<StoredEvent | undefined> {
    const record = await this.kv.get(`${GATEWAY_INDEX_PREFIX}.${id}`);
    if (record?.operation === "PUT") {
      const found = await this.at(record.json<{ streamSeq: number }>().streamSeq);
      if (found?.event.id === id) return found;
    }
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

  /**
   * The event `id` among a run's events, read one by one from the oldest: the way to find an
   * event that no gateway recorded and no destination has written an entry for yet (a first
   * delivery writes none until it lasts or fails). Costs a request per event of the run.
   */
  async findInRun(project: string, run: string, id: string): Promise<StoredEvent | undefined> {
    const filter = `${EVENTS_PREFIX}.${project}.${run}.>`;
    for (let seq = 1; ; ) {
      const req = { next_by_subj: filter, seq } as unknown as MsgRequest;
      const m = await this.jsm.streams.getMessage(EVENTS_STREAM, req).catch(notFound);
      if (!m) return undefined;
      const event = decodeEvent(m.data);
      if (event.id === id) return { event, streamSeq: m.seq };
      seq = m.seq + 1;
    }
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
