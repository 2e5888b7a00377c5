/**
 * Checkpoint-set records in the ledger bucket (contract/checkpoint-set.ts says what one holds):
 * one per (destination, project, run, set), changed only by compare-and-set, since the members of
 * one set land on several replicas at once.
 */
import type { KV } from "@nats-io/kv";
import { destinationRunSetFilter, runSetFilter, type SetRecord, setRecordKey } from "../contract/checkpoint-set.ts";
import { isRevisionConflict } from "./ledger.ts";

/** Which set: its destination (token) and identity. */
export interface SetRecordRef {
  destinationToken: string;
  destination: string;
  project: string;
  run: string;
  set: string;
}

export class SetLedger {
  readonly kv: KV;
  constructor(kv: KV) {
    this.kv = kv;
  }

  async get(ref: SetRecordRef): Promise<SetRecord | undefined> {
    const e = await this.kv.get(setRecordKey(ref.destinationToken, ref.project, ref.run, ref.set));
    return e?.operation === "PUT" ? e.json<SetRecord>() : undefined;
  }

  /**
   * Compare-and-set: `next` sees the current record (a fresh empty one when there is none) and
   * returns the record to write, or undefined to leave it. Retried while another writer moves it.
   * Returns the record as it stands after the call.
   */
  async update(ref: SetRecordRef, next: (current: SetRecord) => SetRecord | undefined): Promise<SetRecord> {
    const key = setRecordKey(ref.destinationToken, ref.project, ref.run, ref.set);
    for (;;) {
      const cur = await this.kv.get(key);
      const live = cur?.operation === "PUT" ? cur : undefined;
      const current = live ? live.json<SetRecord>() : emptyRecord(ref);
      const wanted = next(current);
      if (!wanted) return current;
      const record = { ...wanted, updatedAt: new Date().toISOString() };
      try {
        if (live) await this.kv.update(key, JSON.stringify(record), live.revision);
        else await this.kv.create(key, JSON.stringify(record));
        return record;
      } catch (err) {
        if (!isRevisionConflict(err)) throw err;
      }
    }
  }
}

/** Every set record of one run, at every destination (operators' and the gateway's status reads). */
export async function listRunSets(kv: KV, project: string, run: string): Promise<SetRecord[]> {
  return listSets(kv, runSetFilter(project, run));
}

/** Every set record of one run at one destination (retention). */
export function listDestinationRunSets(kv: KV, destinationToken: string, project: string, run: string) {
  return listSets(kv, destinationRunSetFilter(destinationToken, project, run));
}

async function listSets(kv: KV, filter: string): Promise<SetRecord[]> {
  const keys: string[] = [];
  for await (const k of await kv.keys(filter)) keys.push(k);
  const records: SetRecord[] = [];
  for (const k of keys.sort()) {
    const e = await kv.get(k);
    if (e?.operation === "PUT") records.push(e.json<SetRecord>());
  }
  return records;
}

function emptyRecord(ref: SetRecordRef): SetRecord {
  return {
    destination: ref.destination,
    project: ref.project,
    run: ref.run,
    set: ref.set,
    members: {},
    dead: {},
    place: 0,
    updatedAt: new Date().toISOString(),
  };
}
