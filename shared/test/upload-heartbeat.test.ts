/**
 * A lease holder stops in time, on the real nats-server: frozen (SIGSTOP) so that no renewal can
 * succeed, the server leaves the holder's lease to run out; the upload must be aborted while the
 * lease still holds, and beforeVisible must refuse from then on.
 */

import { NatsServer } from "@artifact-bus/testkit";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../src/config/config.ts";
import { type KeyLease, KeyLeases, LeaseLostError } from "../src/delivery/key-lease.ts";
import { UploadHeartbeat } from "../src/delivery/upload-heartbeat.ts";
import { silentLogger } from "../src/log.ts";
import { connectNats } from "../src/nats/connect.ts";
import { ensureTopology } from "../src/nats/topology.ts";
import { LEDGER_BUCKET } from "../src/nats/topology-names.ts";

let server: NatsServer;
let nc: NatsConnection;
let n = 0;

beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connectNats({ servers: [server.url] }, { name: "heartbeat-test" });
  const config = parseConfig({});
  await ensureTopology(nc, { stream: config.stream, destinations: [] });
});
afterAll(async () => {
  server?.resume();
  await nc?.close();
  await server?.dispose();
});

/** A fresh key's lease of period `ackWaitMs`, and a heartbeat keeping it. */
async function holding(ackWaitMs: number) {
  const kv = await new Kvm(nc).open(LEDGER_BUCKET);
  const leases = new KeyLeases(kv, ackWaitMs, async () => undefined);
  const key = `head.test_heartbeat.k${process.pid}x${++n}`;
  const got = await leases.acquire(key, { seq: 1, holder: `h${n}`, project: "p", run: "r", eventId: `e${n}` });
  if (got.kind !== "acquired") throw new Error(`expected the lease, got ${got.kind}`);
  const lease: KeyLease = got.lease;
  const ac = new AbortController();
  const config = parseConfig({ destinations: [{ name: "s3:test", ackWaitMs, options: {} }] }).destinations[0]!;
  const writes: string[] = [];
  const recorder = {
    slow: async () => void writes.push("uploading"),
    progress: async (bytes: number) => void writes.push(`progress ${bytes}`),
  };
  const keptAlive = { count: 0 };
  const heartbeat = new UploadHeartbeat(() => keptAlive.count++, lease, config, ac, silentLogger, recorder);
  return { lease, ac, heartbeat, ctx: heartbeat.context(1, silentLogger), writes, keptAlive };
}

/** Resolves with the lease's time left at the moment `signal` aborts. */
function remainingAtAbort(signal: AbortSignal, lease: KeyLease): Promise<number> {
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(lease.remainingMs), { once: true }));
}

describe("upload heartbeat: a holder stops before its lease can expire", () => {
  it("renewals keep the lease: a holder on a working link is not stopped for several lease periods", async () => {
    const { lease, ac, heartbeat, ctx } = await holding(1000);
    try {
      // Renewals every ackWait/3 each re-arm the abort; without them it would fire after ~0.9 s.
      const until = Date.now() + 3 * lease.periodMs;
      while (Date.now() < until) {
        await new Promise((r) => setTimeout(r, 200));
        expect(ac.signal.aborted).toBe(false);
      }
      await ctx.beforeVisible();
    } finally {
      heartbeat.stop();
    }
  });

  it("cut off from NATS, it aborts with the margin still left on its lease, and beforeVisible refuses", async () => {
    const { lease, ac, heartbeat, ctx } = await holding(3000);
    try {
      await ctx.beforeVisible(); // fresh lease: the visible step may go
      const left = remainingAtAbort(ac.signal, lease);
      await server.pause();
      // Before, the check ran on the renewal ticks (ackWait/3 apart) and fired once nothing was left.
      expect(await left).toBeGreaterThan(0);
      expect(ac.signal.reason).toBeInstanceOf(LeaseLostError);
      await expect(ctx.beforeVisible()).rejects.toBeInstanceOf(LeaseLostError);
    } finally {
      server.resume();
      heartbeat.stop();
    }
  });

  it("beforeVisible with less than half a lease left renews first, so the visible step gets most of a lease", async () => {
    const { lease, heartbeat, ctx } = await holding(3000);
    try {
      await server.pause();
      // No renewal can succeed while the server is frozen: wait until half the lease is gone.
      await new Promise<void>(function wait(resolve) {
        if (lease.remainingMs < lease.periodMs / 2 - 100) resolve();
        else setTimeout(() => wait(resolve), 50);
      });
      server.resume();
      await ctx.beforeVisible();
      expect(lease.remainingMs).toBeGreaterThan(lease.periodMs / 2);
    } finally {
      server.resume();
      heartbeat.stop();
    }
  });

  it("once the upload returned, it writes nothing more to the ledger, yet keeps the delivery alive until settled", async () => {
    const { heartbeat, ctx, writes, keptAlive } = await holding(900);
    ctx.heartbeat(10); // progress reported before the end
    heartbeat.uploadEnded();
    ctx.heartbeat(20); // a late report from the adapter
    // Three keep-alive ticks (300 ms apart) take it past the moment an upload counts as slow
    // (SLOW_MS, 500 ms), when `uploading` would be written.
    await new Promise<void>(function wait(resolve) {
      if (keptAlive.count >= 3) resolve();
      else setTimeout(() => wait(resolve), 50);
    });
    heartbeat.stop();
    expect(writes).toEqual([]);
  });
});
