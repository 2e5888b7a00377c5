/** Resume records on the real nats-server: handed to the next attempt of the event, fenced by the key's lease. */

import { NatsServer } from "@artifact-bus/testkit";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../src/config/config.ts";
import { type KeyLease, KeyLeases, type LeaseLostError } from "../src/delivery/key-lease.ts";
import { AttemptResume, resumeKeyOf } from "../src/delivery/upload-resume.ts";
import { createLogger } from "../src/log.ts";
import { connectNats } from "../src/nats/connect.ts";
import { ensureTopology } from "../src/nats/topology.ts";
import { LEDGER_BUCKET } from "../src/nats/topology-names.ts";

let server: NatsServer;
let nc: NatsConnection;
let kv: KV;
let n = 0;
const log = createLogger("resume-test");

beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connectNats({ servers: [server.url] }, { name: "resume-test" });
  const config = parseConfig({});
  await ensureTopology(nc, { stream: config.stream, destinations: [] });
  kv = await new Kvm(nc).open(LEDGER_BUCKET);
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

/** The lease of `key` for the event at `seq`, as a fresh delivery attempt takes it. */
async function lease(leases: KeyLeases, key: string, seq: number): Promise<KeyLease> {
  const r = await leases.acquire(key, {
    seq,
    holder: `replica/${seq}/${++n}`,
    project: "p",
    run: "r",
    eventId: `ev-${seq}`,
  });
  if (r.kind !== "acquired") throw new Error(`expected the lease, got ${r.kind}`);
  return r.lease;
}

function resumeOf(l: KeyLease, seq: number, fenced: (err: LeaseLostError) => void = () => {}) {
  return new AttemptResume(kv, { eventId: `ev-${seq}`, seq, lease: l, marginMs: 100, fenced, log });
}

describe("resume records", () => {
  it("the next attempt of the same event gets the state the last one saved; another version gets none", async () => {
    const leases = new KeyLeases(kv, 10_000, async () => undefined);
    const key = `head.test_resume.k${++n}`;
    const first = await lease(leases, key, 5);
    const a = resumeOf(first, 5);
    expect(await a.load()).toBeUndefined();
    await a.save({ uploadId: "u1", parts: [[1, 8, "e1", "s1"]] });
    await a.save({
      uploadId: "u1",
      parts: [
        [1, 8, "e1", "s1"],
        [2, 8, "e2", "s2"],
      ],
    });
    await first.release(); // the attempt failed: the key is free for the next one

    const second = await lease(leases, key, 5);
    expect(await resumeOf(second, 5).load()).toEqual({
      uploadId: "u1",
      parts: [
        [1, 8, "e1", "s1"],
        [2, 8, "e2", "s2"],
      ],
    });
    await second.release();
    const newer = await lease(leases, key, 9);
    const next = resumeOf(newer, 9);
    expect(await next.load()).toBeUndefined();
    // The older version is superseded: what it saved is handed over to be cleaned up.
    expect(next.abandoned()).toEqual({
      uploadId: "u1",
      parts: [
        [1, 8, "e1", "s1"],
        [2, 8, "e2", "s2"],
      ],
    });
  });

  it("an attempt that lost its lease cannot overwrite what the newer attempt saved, and is stopped", async () => {
    const leases = new KeyLeases(kv, 10_000, async () => undefined);
    const key = `head.test_resume.k${++n}`;
    const old = await lease(leases, key, 7);
    const fencedOld: LeaseLostError[] = [];
    const stale = resumeOf(old, 7, (err) => fencedOld.push(err));
    await stale.save({ uploadId: "u-old" });
    await old.release(); // as a takeover would: the next attempt holds the key now
    const current = await lease(leases, key, 7);
    const fresh = resumeOf(current, 7);
    expect(await fresh.load()).toEqual({ uploadId: "u-old" });
    await fresh.save({ uploadId: "u-new" });

    await stale.save({ uploadId: "u-stale" });
    expect(fencedOld.map((e) => e.name)).toEqual(["LeaseLostError"]);
    const stored = await kv.get(resumeKeyOf(key));
    expect(stored?.json<{ state: unknown }>().state).toEqual({ uploadId: "u-new" });
  });

  it("a landed upload's record is removed", async () => {
    const leases = new KeyLeases(kv, 10_000, async () => undefined);
    const key = `head.test_resume.k${++n}`;
    const r = resumeOf(await lease(leases, key, 3), 3);
    await r.save({ uploadId: "u" });
    await r.discard();
    expect((await kv.get(resumeKeyOf(key)))?.operation).not.toBe("PUT");
  });
});
