/**
 * The gateway's view of events: the shared lookup (by id, a run's names, versions) plus its own
 * records `idx.<id>` in the ledger bucket, written when it published an event, holding the
 * answer it gave (a retried Idempotency-Key gets it again).
 */
import { EventLookup, GATEWAY_INDEX_PREFIX, type InadmissibleMessage, LEDGER_BUCKET } from "@artifact-bus/shared";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { AcceptedBody } from "./schemas.ts";

export type { StoredEvent } from "@artifact-bus/shared";

/** What the gateway records per event it published. */
export interface IndexRecord {
  project: string;
  run: string;
  streamSeq: number;
  answer: AcceptedBody;
  /** The request's fingerprint (idempotency.ts): a retry with another one is refused (422). Absent in older records. */
  fingerprint?: string;
}

export class EventIndex extends EventLookup {
  private readonly nc: NatsConnection;
  /** Records waiting for the end of this turn of the event loop (see sendRecord). */
  private unsent: [string, string][] = [];

  constructor(jsm: JetStreamManager, kv: KV, nc: NatsConnection, onInadmissible?: (m: InadmissibleMessage) => void) {
    super(jsm, kv, onInadmissible);
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
}
