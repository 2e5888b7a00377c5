/**
 * The ledger's guarded writes on the real nats-server when the writer expects a new entry (a
 * first delivery tries a create before any read): a final verdict already there still stands,
 * exactly as when the write reads first, and the write costs one request where it is new.
 */
import { NatsServer } from "@artifact-bus/testkit";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../src/config/config.ts";
import { ledgerKey, type NewLedgerEntry } from "../src/contract/ledger-entry.ts";
import { Ledger } from "../src/ledger/ledger.ts";
import { connectNats } from "../src/nats/connect.ts";
import { ensureTopology } from "../src/nats/topology.ts";
import { LEDGER_BUCKET } from "../src/nats/topology-names.ts";

let server: NatsServer;
let nc: NatsConnection;
let ledger: Ledger;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connectNats({ servers: [server.url] }, { name: "ledger-writes-test" });
  const config = parseConfig({});
  await ensureTopology(nc, { stream: config.stream, destinations: [] });
  ledger = new Ledger(await new Kvm(nc).open(LEDGER_BUCKET));
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

const TOKEN = "test_writes";
const entry = (eventId: string, state: NewLedgerEntry["state"]): NewLedgerEntry => ({
  project: "p",
  run: "r",
  eventId,
  state,
  destination: "dir:test",
  name: "a.bin",
  streamSeq: 7,
  attempts: 1,
});

/** JetStream API requests the server counted so far (a message get is one; a KV create is a publish). */
async function apiRequests(): Promise<number> {
  return (await jsm.getAccountInfo()).api.total;
}

describe("guarded ledger writes that expect a new entry", () => {
  it("create a new entry without reading first", async () => {
    const before = await apiRequests();
    const written = await ledger.recordUploaded(TOKEN, entry("new", "uploaded"), { expectNew: true });
    const reads = (await apiRequests()) - before - 1; // the account info request itself
    expect(reads).toBe(0);
    // It says the revision it wrote: the one the entry is now at.
    const stored = await ledger.kv.get(ledgerKey(TOKEN, entry("new", "uploaded")));
    expect(written).toBe(stored?.revision);
    expect((await ledger.get(TOKEN, entry("new", "uploaded")))?.state).toBe("uploaded");

    // The same write reading first, as a redelivery's does: one message get more.
    const before2 = await apiRequests();
    expect(await ledger.recordUploaded(TOKEN, entry("new2", "uploaded"))).toBeGreaterThan(0);
    expect((await apiRequests()) - before2 - 1).toBe(1);
  });

  it("leave a final verdict that is already there, as a read-first write does", async () => {
    await ledger.record(TOKEN, { ...entry("late", "superseded"), supersededBy: 9 });
    expect(await ledger.recordUploaded(TOKEN, entry("late", "uploaded"), { expectNew: true })).toBeUndefined();
    expect(await ledger.get(TOKEN, entry("late", "uploaded"))).toMatchObject({ state: "superseded", supersededBy: 9 });

    await ledger.record(TOKEN, entry("done", "uploaded"));
    const pending = { ...entry("done", "pending"), error: "late failure" };
    expect(await ledger.recordUnlessTerminal(TOKEN, pending, { expectNew: true })).toBeUndefined();
    expect((await ledger.get(TOKEN, entry("done", "uploaded")))?.state).toBe("uploaded");
  });

  it("replace a state on the way, as a read-first write does", async () => {
    await ledger.record(TOKEN, { ...entry("slow", "uploading"), bytesDone: 10 });
    const written = await ledger.recordUploaded(TOKEN, entry("slow", "uploaded"), { expectNew: true });
    expect(written).toBe((await ledger.kv.get(ledgerKey(TOKEN, entry("slow", "uploaded"))))?.revision);
    expect((await ledger.get(TOKEN, entry("slow", "uploaded")))?.state).toBe("uploaded");
  });
});
