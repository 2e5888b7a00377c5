/**
 * What waiting for ledger entries (a trainer's `flush()`) costs NATS, on the real nats-server:
 * a trainer hears nothing of its run's other trainers while it waits for its last artifacts, and
 * an artifact that stalls does not make the walk stop reading the others once each. Costs are
 * counted in messages and reads, not time.
 */
import { NatsServer } from "@artifact-bus/testkit";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../src/config/config.ts";
import { type LedgerEntry, ledgerKey, type NewLedgerEntry } from "../src/contract/ledger-entry.ts";
import { Ledger } from "../src/ledger/ledger.ts";
import { type AwaitedEntry, waitForTerminal } from "../src/ledger/ledger-waiter.ts";
import { walk } from "../src/ledger/ledger-walk.ts";
import { connectNats } from "../src/nats/connect.ts";
import { ensureTopology } from "../src/nats/topology.ts";
import { LEDGER_BUCKET } from "../src/nats/topology-names.ts";

let server: NatsServer;
let writer: Ledger;
const connections: NatsConnection[] = [];

async function openLedger(name: string): Promise<{ nc: NatsConnection; ledger: Ledger }> {
  const nc = await connectNats({ servers: [server.url] }, { name });
  connections.push(nc);
  return { nc, ledger: new Ledger(await new Kvm(nc).open(LEDGER_BUCKET)) };
}

beforeAll(async () => {
  server = await NatsServer.start();
  const { nc } = await openLedger("ledger-waiter-cost-writer");
  await ensureTopology(nc, { stream: parseConfig({}).stream, destinations: [] });
  writer = (await openLedger("ledger-waiter-cost-writes")).ledger;
});
afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
  await server?.dispose();
});

const TOKEN = "test_wait";
const entry = (run: string, eventId: string, state: NewLedgerEntry["state"]): NewLedgerEntry => ({
  project: "p",
  run,
  eventId,
  state,
  destination: "dir:test",
  name: `${eventId}.bin`,
  streamSeq: 1,
  attempts: 1,
});
const awaited = (run: string, eventId: string): AwaitedEntry => ({
  destinationToken: TOKEN,
  project: "p",
  run,
  eventId,
  name: `${eventId}.bin`,
});

describe("waiting for ledger entries", () => {
  it("does not hear the run's other artifacts while waiting for its last few", async () => {
    const mine = ["a0", "a1", "a2", "a3"];
    for (const id of mine) await writer.record(TOKEN, entry("quiet", id, "pending"));
    const { nc, ledger } = await openLedger("ledger-waiter-cost-trainer");
    let watching!: () => void;
    const watched = new Promise<void>((r) => (watching = r));
    const before = nc.stats();
    const waited = waitForTerminal(
      ledger,
      mine.map((id) => awaited("quiet", id)),
      30_000,
      {
        // The last is read (pending) once the watch is up.
        onEntry: (w) => w.eventId === "a3" && watching(),
      },
    );
    await watched;
    // 50 other trainers' artifacts of the same run land while it waits, then its own.
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => writer.record(TOKEN, entry("quiet", `other${i}`, "uploaded"))),
    );
    for (const id of mine) await writer.record(TOKEN, entry("quiet", id, "uploaded"));
    await waited;
    const after = nc.stats();
    // Replies answer requests one for one; what it received beyond them is what its watch heard.
    const heard = after.inMsgs - before.inMsgs - (after.outMsgs - before.outMsgs);
    expect(heard).toBeLessThanOrEqual(mine.length);
  });

  it("passes over an artifact that stalls and reads each of the others about once", async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `s${i}`);
    // s0 is stuck (no entry yet, as while it is retried); the others are uploaded.
    for (const id of ids.slice(1)) await writer.record(TOKEN, entry("stall", id, "uploaded"));
    const { ledger } = await openLedger("ledger-waiter-cost-walker");
    const reads = new Map<string, number>();
    const get = ledger.get.bind(ledger);
    ledger.get = (token, ref) => {
      reads.set(ref.eventId, (reads.get(ref.eventId) ?? 0) + 1);
      return get(token, ref);
    };
    const waiting = new Map(ids.map((id) => [ledgerKey(TOKEN, awaited("stall", id)), awaited("stall", id)]));
    const settle = (key: string, e: LedgerEntry | undefined) => {
      if (e?.state === "uploaded") waiting.delete(key);
    };
    await walk(ledger, waiting, settle, { deadline: Date.now() + 30_000, leave: 8, stallMs: 300 });
    // The stuck one is left for the watch, with at most the last 8; the walk went on past it and
    // read each other one at most once.
    expect(waiting.has(ledgerKey(TOKEN, awaited("stall", "s0")))).toBe(true);
    expect(waiting.size).toBeLessThanOrEqual(1 + 8);
    for (const id of ids.slice(1)) expect(reads.get(id) ?? 0).toBeLessThanOrEqual(1);
  });

  it("returns when its last artifact lands, not at the walk's next read", async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `w${i}`);
    const { ledger } = await openLedger("ledger-waiter-wake");
    let walkFoundFirstUnfinished!: () => void;
    const found = new Promise<void>((r) => (walkFoundFirstUnfinished = r));
    const get = ledger.get.bind(ledger);
    ledger.get = async (token, ref) => {
      const e = await get(token, ref);
      if (ref.eventId === "w0" && e === undefined) walkFoundFirstUnfinished();
      return e;
    };
    // The walk pauses ten minutes after finding w0 unfinished: only the watch of the last entry
    // can end that pause within the test's timeout (and the flush's).
    const waited = waitForTerminal(
      ledger,
      ids.map((id) => awaited("wake", id)),
      300_000,
      { walkPauseMs: [600_000, 600_000] },
    );
    await found;
    for (const id of ids) await writer.record(TOKEN, entry("wake", id, "uploaded"));
    await expect(waited).resolves.toBeUndefined();
  }, 30_000);
});
