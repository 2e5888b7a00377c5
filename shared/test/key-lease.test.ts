/** Key leases on the real nats-server: one holder per key, fences against older versions, expiry without shared clocks. */

import { eventually, NatsServer } from "@artifact-bus/testkit";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseConfig } from "../src/config/config.ts";
import { type AcquireResult, type KeyLease, KeyLeases } from "../src/delivery/key-lease.ts";
import { Ledger } from "../src/ledger/ledger.ts";
import { connectNats } from "../src/nats/connect.ts";
import { ensureTopology } from "../src/nats/topology.ts";
import { LEDGER_BUCKET } from "../src/nats/topology-names.ts";

let server: NatsServer;
let nc: NatsConnection;
let n = 0;

beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connectNats({ servers: [server.url] }, { name: "lease-test" });
  const config = parseConfig({});
  await ensureTopology(nc, { stream: config.stream, destinations: [] });
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

const TOKEN = "test_leases";

/** Leases over the real ledger of destination token `test_leases`, and a way to record outcomes. */
async function leasesOver(leaseMs: number) {
  const kv = await new Kvm(nc).open(LEDGER_BUCKET);
  const ledger = new Ledger(kv);
  const leases = new KeyLeases(kv, leaseMs, async (ref) => (await ledger.get(TOKEN, ref))?.state);
  const record = (seq: number, state: "uploaded" | "dead") =>
    ledger.record(TOKEN, {
      state,
      destination: "s3:test",
      eventId: `ev-${seq}`,
      project: "p",
      run: "r",
      name: "k",
      streamSeq: seq,
      attempts: 1,
    });
  return { kv, leases, record };
}

/** A claim of version `seq` by `holder`. */
const claim = (seq: number, holder = `holder-${seq}-${++n}`) => ({
  seq,
  holder,
  project: "p",
  run: "r",
  eventId: `ev-${seq}`,
});

function leaseOf(r: AcquireResult): KeyLease {
  if (r.kind !== "acquired") throw new Error(`expected the lease, got ${r.kind}`);
  return r.lease;
}

describe("key leases", () => {
  it("let exactly one of many contenders hold a key; older versions are fenced out, newer ones wait", async () => {
    const { leases, record } = await leasesOver(30_000);
    const key = "head.test_leases.contend";
    const results = await Promise.all([11, 12, 13, 14, 15].map((seq) => leases.acquire(key, claim(seq))));
    expect(results.filter((r) => r.kind === "acquired")).toHaveLength(1);
    const winner = [11, 12, 13, 14, 15][results.findIndex((r) => r.kind === "acquired")]!;
    // While it uploads: an older version can never write after it; a newer one waits its turn.
    expect((await leases.acquire(key, claim(winner - 1))).kind).toBe("superseded");
    expect((await leases.acquire(key, claim(winner + 100))).kind).toBe("busy");
    // Its ledger entry completes the lease: no write to the lease record is needed.
    await record(winner, "uploaded");
    expect((await leases.acquire(key, claim(winner))).kind).toBe("done");
    expect(await leases.acquire(key, claim(winner + 100))).toMatchObject({ kind: "acquired", firstVersion: false });
    expect((await leases.acquire(key, claim(winner + 50))).kind).toBe("superseded");
  });

  it("a lease released after an upload that may have landed still keeps older versions out", async () => {
    const { leases } = await leasesOver(30_000);
    const key = "head.test_leases.fence";
    // The upload went out, but recording it failed: the holder lets go without an outcome.
    await leaseOf(await leases.acquire(key, claim(9))).release();
    expect((await leases.acquire(key, claim(5))).kind).toBe("superseded");
    // The same version may take the key again (its retry, or a DLQ replay of it).
    expect((await leases.acquire(key, claim(9))).kind).toBe("acquired");
  });

  it("a holder whose event died frees the key, without counting as done", async () => {
    const { leases, record } = await leasesOver(30_000);
    const key = "head.test_leases.dead";
    leaseOf(await leases.acquire(key, claim(5, "crashed")));
    await record(5, "dead");
    expect((await leases.acquire(key, claim(5))).kind).toBe("acquired"); // a replay of it
  });

  it("expiry is judged by the reader seeing the lease not renewed, not by comparing clocks", async () => {
    const { leases: holder } = await leasesOver(30_000);
    const key = "head.test_leases.skew";
    leaseOf(await holder.acquire(key, claim(1)));
    const { leases: reader } = await leasesOver(30_000);
    const spy = vi.spyOn(Date, "now").mockReturnValue(Date.now() + 2 * 3600_000); // its clock is 2 h ahead
    try {
      expect((await reader.acquire(key, claim(2))).kind).toBe("busy");
    } finally {
      spy.mockRestore();
    }
  });

  it("a lease not renewed for a lease period is taken over, and the old holder learns it lost it", async () => {
    const leaseMs = 200;
    const { leases: crashed } = await leasesOver(leaseMs);
    const key = "head.test_leases.expire";
    const old = leaseOf(await crashed.acquire(key, claim(1, "crashed")));
    const { leases: live } = await leasesOver(leaseMs);
    const firstTry = performance.now();
    expect((await live.acquire(key, claim(2))).kind).toBe("busy");
    await eventually(
      async () => ((await live.acquire(key, claim(2, "live"))).kind === "acquired" ? true : undefined),
      5000,
      "takeover",
    );
    expect(performance.now() - firstTry).toBeGreaterThanOrEqual(leaseMs);
    await expect(old.renew()).rejects.toThrow(/taken over/);
  });

  it("a renewal that timed out but was applied later does not lose the lease", async () => {
    const { kv, leases } = await leasesOver(30_000);
    const key = "head.test_leases.late";
    const lease = leaseOf(await leases.acquire(key, claim(1)));
    // The renewal's write lands behind the holder's back: same record, a newer revision.
    const cur = await kv.get(key);
    await kv.update(key, cur!.string(), cur!.revision);
    await expect(lease.renew()).resolves.toBeUndefined();
    expect((await leases.acquire(key, claim(2))).kind).toBe("busy");
  });
});
