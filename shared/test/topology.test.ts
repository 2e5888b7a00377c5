import { jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../src/config.ts";
import { connectNats } from "../src/nats/connect.ts";
import { ensureTopology } from "../src/nats/topology.ts";
import { DLQ_STREAM, EVENTS_STREAM, LEDGER_BUCKET } from "../src/nats/topology-names.ts";
import { KeyLeases } from "../src/runtime/key-lease.ts";
import { Ledger } from "../src/runtime/ledger.ts";
import { NatsServer } from "../src/testing/nats-server.ts";

let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connectNats({ servers: [server.url] }, { name: "topology-test" });
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

describe("ensureTopology", () => {
  it("creates streams, ledger and one consumer per destination, and is safe to run concurrently and again", async () => {
    const config = parseConfig({
      destinations: [
        { name: "s3:main", filter: { project: "vision" } },
        { name: "sftp:archive", ackWaitMs: 5000 },
      ],
    });
    const opts = { stream: config.stream, destinations: config.destinations };
    // Several processes applying the same topology at once must all succeed.
    const others = await Promise.all(
      Array.from({ length: 8 }, () => connectNats({ servers: [server.url] }, { name: "t" })),
    );
    await Promise.all(others.map((c) => ensureTopology(c, opts)));
    await Promise.all(others.map((c) => c.close()));
    await ensureTopology(nc, opts);

    const jsm = await jetstreamManager(nc);
    const events = await jsm.streams.info(EVENTS_STREAM);
    expect(events.config.retention).toBe(RetentionPolicy.Limits);
    expect(events.config.duplicate_window).toBe(120_000 * 1_000_000);
    expect((await jsm.streams.info(DLQ_STREAM)).config.subjects).toEqual(["artifacts.v1.dlq.>"]);
    const s3 = await jsm.consumers.info(EVENTS_STREAM, "dest_s3_main");
    expect(s3.config.filter_subject).toBe("artifacts.v1.events.vision.*.*.*");
    expect(s3.config.max_deliver).toBe(11);
    const sftp = await jsm.consumers.info(EVENTS_STREAM, "dest_sftp_archive");
    expect(sftp.config.ack_wait).toBe(5000 * 1_000_000);
    expect(await new Kvm(nc).open(LEDGER_BUCKET)).toBeDefined();

    // A changed setting is applied to the existing consumer on the next run.
    await ensureTopology(nc, { ...opts, destinations: [{ ...config.destinations[1]!, ackWaitMs: 9000 }] });
    expect((await jsm.consumers.info(EVENTS_STREAM, "dest_sftp_archive")).config.ack_wait).toBe(9000 * 1_000_000);
  });
});

describe("key leases", () => {
  /** Leases over the real ledger of destination token `test_leases`. */
  async function leasesOver(leaseMs: number) {
    const kv = await new Kvm(nc).open(LEDGER_BUCKET);
    const ledger = new Ledger(kv);
    const leases = new KeyLeases(kv, leaseMs, async (id) => (await ledger.get("test_leases", id))?.state);
    const record = (eventId: string, streamSeq: number, state: "uploaded" | "dead") =>
      ledger.record("test_leases", {
        state,
        destination: "s3:test",
        eventId,
        project: "p",
        run: "r",
        name: "k",
        streamSeq,
        attempts: 1,
      });
    return { leases, record };
  }

  it("let exactly one of many contenders hold a key; once its upload is in the ledger, older events are superseded", async () => {
    const { leases, record } = await leasesOver(30_000);
    const key = "head.test_leases.p.r.k1";
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map((i) => leases.acquire(key, 10 + i, `holder-${i}`, `ev-${10 + i}`)),
    );
    const winners = results.filter((r) => r.kind === "acquired");
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => r.kind === "busy")).toHaveLength(4);
    const lease = winners[0]!.kind === "acquired" ? winners[0]!.lease : undefined;
    // Still uploading: everyone else waits, older or newer.
    expect((await leases.acquire(key, lease!.seq - 1, "holder-w", "ev-older")).kind).toBe("busy");
    // The ledger entry completes the lease; no write to the lease record is needed.
    await record(`ev-${lease!.seq}`, lease!.seq, "uploaded");
    expect((await leases.acquire(key, lease!.seq - 1, "holder-x", "ev-older")).kind).toBe("superseded");
    expect((await leases.acquire(key, lease!.seq, "holder-y", `ev-${lease!.seq}`)).kind).toBe("done");
    const newer = await leases.acquire(key, lease!.seq + 100, "holder-z", "ev-newer");
    expect(newer).toMatchObject({ kind: "acquired", firstVersion: false });
    // The newer holder's lease keeps the older upload as done: doneSeq never moves backwards.
    expect((await leases.acquire(key, lease!.seq - 1, "holder-v", "ev-older")).kind).toBe("superseded");
  });

  it("a holder that died or released frees the key without counting as done", async () => {
    const { leases, record } = await leasesOver(30_000);
    const key = "head.test_leases.p.r.k3";
    const first = await leases.acquire(key, 5, "holder-a", "ev-dead");
    expect(first.kind).toBe("acquired");
    await record("ev-dead", 5, "dead");
    // Dead: the key is free, and the same sequence may be tried again (a DLQ replay).
    const second = await leases.acquire(key, 4, "holder-b", "ev-4");
    expect(second.kind).toBe("acquired");
    if (second.kind === "acquired") await second.lease.release();
    expect((await leases.acquire(key, 3, "holder-c", "ev-3")).kind).toBe("acquired");
  });

  it("an expired lease can be taken over, and the old holder then learns it lost it", async () => {
    const short = await leasesOver(1);
    const key = "head.test_leases.p.r.k2";
    const first = await short.leases.acquire(key, 1, "crashed-replica", "ev-crashed");
    expect(first.kind).toBe("acquired");
    // The lease lasts 1 ms: wait until it is expired by the clock, not by a guess.
    const until = Date.now() + 5;
    while (Date.now() < until) await new Promise((r) => setTimeout(r, 1));
    const second = await (await leasesOver(30_000)).leases.acquire(key, 2, "live-replica", "ev-live");
    expect(second.kind).toBe("acquired");
    if (first.kind === "acquired") await expect(first.lease.renew()).rejects.toThrow(/taken over/);
  });
});

describe("ledger", () => {
  it("a late failure never replaces a terminal outcome", async () => {
    const ledger = new Ledger(await new Kvm(nc).open(LEDGER_BUCKET));
    const base = {
      destination: "s3:main",
      eventId: "late-failure-1",
      project: "p",
      run: "r",
      name: "n",
      streamSeq: 7,
      attempts: 1,
    };
    expect(await ledger.recordUnlessTerminal("s3_main", { ...base, state: "pending", error: "first try" })).toBe(true);
    await ledger.record("s3_main", { ...base, attempts: 2, state: "uploaded", location: "s3://b/k" });
    // The first delivery's handler times out only now, after the redelivery finished the event.
    expect(await ledger.recordUnlessTerminal("s3_main", { ...base, state: "pending", error: "TimeoutError" })).toBe(
      false,
    );
    expect(await ledger.get("s3_main", "late-failure-1")).toMatchObject({ state: "uploaded", attempts: 2 });
  });
});
