/**
 * The gateway's view of events: the shared lookup (by id, a run's names, versions) plus its own
 * records `idx.<id>` in the ledger bucket, written when it published an event, holding the
 * answer it gave (a retried Idempotency-Key gets it again).
 */
import { EventLookup, GATEWAY_INDEX_PREFIX, LEDGER_BUCKET } from "@artifact-bus/shared";
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
}

export class EventIndex extends EventLookup {
  private readonly nc: NatsConnection;

  constructor(jsm: JetStreamManager, kv: KV, nc: NatsConnection) {
    super(jsm, kv);
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

  /** Writes the record without waiting for its acknowledgement (a core publish to the bucket's subject). */
  sendRecord(id: string, record: IndexRecord): void {
    this.nc.publish(`$KV.${LEDGER_BUCKET}.${GATEWAY_INDEX_PREFIX}.${id}`, JSON.stringify(record));
  }
}
