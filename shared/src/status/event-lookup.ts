/**
 * Finding events. The stream ARTIFACTS is the truth about which versions exist: a run's subjects
 * (`artifacts.v1.events.<project>.<run>.<level>.<key>`) come from the stream's subject counts,
 * and a name's newest version is the last message on its subjects. An event id is found through
 * the gateway's record (`idx.<id>` in the ledger bucket, written when it published the event)
 * or, for events other producers published, through the ledger entries the uploaders wrote
 * (which carry the event's stream sequence). The gateway and `artifact-bus status` both read
 * events this way.
 *
 * Every message read is admitted exactly as the uploader admits it (admission.ts): its subject
 * vouches for its project, run, level and name, so a producer that may publish only on its own
 * project's subjects cannot make a read show another project's ids, names or states. A message
 * that fails admission is skipped and counted (`onInadmissible`), never shown, and never turns a
 * listing into an error.
 */
import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { admitEvent } from "../contract/admission.ts";
import type { LedgerEntry } from "../contract/ledger-entry.ts";
import type { ArtifactEventV1 } from "../contract/schema.ts";
import { EVENTS_PREFIX, parseEventSubject } from "../contract/subjects.ts";
import { scanMessages } from "../nats/message-scan.ts";
import { EVENTS_STREAM, GATEWAY_INDEX_PREFIX } from "../nats/topology-names.ts";

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

/** A message a read skipped: its subject does not vouch for its body. */
export interface InadmissibleMessage {
  subject: string;
  streamSeq: number;
  reason: string;
}

export class EventLookup {
  protected readonly jsm: JetStreamManager;
  protected readonly kv: KV;
  private readonly onInadmissible: (m: InadmissibleMessage) => void;

  /** `kv` is the ledger bucket; `onInadmissible` hears of every message a read skipped. */
  constructor(jsm: JetStreamManager, kv: KV, onInadmissible: (m: InadmissibleMessage) => void = () => {}) {
    this.jsm = jsm;
    this.kv = kv;
    this.onInadmissible = onInadmissible;
  }

  /** The event at `seq`; undefined when it expired, is no event, or fails admission. */
  async at(seq: number): Promise<StoredEvent | undefined> {
    const m = await this.jsm.streams.getMessage(EVENTS_STREAM, { seq }).catch(notFound);
    return m?.subject.startsWith(`${EVENTS_PREFIX}.`) ? this.admitted(m) : undefined;
  }

  /**
   * The event with id `id`, by the gateway's record or by its ledger entries, among the projects
   * `inProject` accepts (default all): ids are unique per project only, as anyone may publish
   * any id on their own project's subjects.
   */
  async byId(id: string, inProject: (project: string) => boolean = () => true): Promise<StoredEvent | undefined> {
    const record = await this.kv.get(`${GATEWAY_INDEX_PREFIX}.${id}`);
    if (record?.operation === "PUT") {
      const found = await this.at(record.json<{ streamSeq: number }>().streamSeq);
      if (found?.event.id === id && inProject(found.event.project)) return found;
    }
    // Any destination's entry will do: each carries the event's stream sequence. A replay's
    // entry carries its original's sequence, which is the same event.
    for await (const key of await this.kv.keys(`ev.*.*.*.${id}`)) {
      if (!inProject(key.split(".")[2] ?? "")) continue;
      const e = await this.kv.get(key);
      if (e?.operation !== "PUT") continue;
      const found = await this.at(e.json<LedgerEntry>().streamSeq);
      if (found?.event.id === id && inProject(found.event.project)) return found;
    }
    return undefined;
  }

  /**
   * The event `id` among a run's events, read one by one from the oldest: the way to find an
   * event that no gateway recorded and no destination has written an entry for yet (a first
   * delivery writes none until it lasts or fails). Costs a request per event of the run.
   */
  async findInRun(project: string, run: string, id: string): Promise<StoredEvent | undefined> {
    for await (const m of this.messages(`${EVENTS_PREFIX}.${project}.${run}.>`)) {
      const found = this.admitted(m);
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

  /** The newest admissible version among a group's subjects. */
  async newest(group: NameGroup): Promise<StoredEvent | undefined> {
    const last = await Promise.all(
      group.subjects.map((s) => this.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: s }).catch(notFound)),
    );
    const m = last.reduce((a, b) => (b && (!a || b.seq > a.seq) ? b : a), undefined);
    if (!m) return undefined;
    const tokens = parseEventSubject(m.subject);
    // The newest message is not an event its subject vouches for: the newest that is, if any.
    return this.admitted(m) ?? (tokens && (await this.scan(tokens.project, tokens.run, tokens.key, 1, false))[0]);
  }

  /**
   * Every version of one name in a run, newest first (the newest `limit`), read message by
   * message (see message-scan.ts) across the levels it was logged at.
   */
  versions(project: string, run: string, key: string, limit = 1000): Promise<StoredEvent[]> {
    return this.scan(project, run, key, limit, true);
  }

  private async scan(project: string, run: string, key: string, limit: number, count: boolean): Promise<StoredEvent[]> {
    const out: StoredEvent[] = [];
    for await (const m of this.messages(`${EVENTS_PREFIX}.${project}.${run}.*.${key}`)) {
      const found = this.admitted(m, count);
      if (found) out.push(found);
      if (out.length > limit) out.shift();
    }
    return out.reverse();
  }

  /** The events stream's messages on `filter`, in order; a get answering "not found" ends them. */
  private async *messages(filter: string): AsyncGenerator<StoredMsg> {
    try {
      yield* scanMessages(this.jsm, EVENTS_STREAM, filter);
    } catch (err) {
      notFound(err);
    }
  }

  /** The event of a message, if its subject vouches for it; else undefined, and counted. */
  private admitted(m: StoredMsg, count = true): StoredEvent | undefined {
    const a = admitEvent(m.subject, m.data, m.seq);
    if (a.ok) return { event: a.event, streamSeq: m.seq };
    if (count) this.onInadmissible({ subject: m.subject, streamSeq: m.seq, reason: a.reason });
    return undefined;
  }
}

/** A message get that found nothing answers 404 "no message found": undefined, not an error. */
function notFound(err: unknown): undefined {
  if (/no message found|not found/i.test((err as Error)?.message ?? "")) return undefined;
  throw err;
}
