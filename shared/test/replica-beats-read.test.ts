/**
 * Reading the replicas' heartbeats while they are being written, on a real nats-server: every
 * read answers with each replica once, none waits for a listing consumer's idle heartbeat. A
 * key listing (kv.keys, an ordered consumer that ends at the message it is told has nothing
 * pending) listed rewritten keys twice (23 beats of 6 replicas), or missed its end and hung
 * until the consumer's heartbeat; GET /v1/destinations (and status --destinations) then
 * took up to a minute, and held a stopping gateway for its whole grace period.
 */
import { NatsServer } from "@artifact-bus/testkit";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { readReplicaBeats, replicaKey } from "../src/ledger/replica-heartbeat.ts";
import { LEDGER_BUCKET } from "../src/nats/topology-names.ts";

let server: NatsServer;
let nc: NatsConnection;
let kv: KV;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connect({ servers: server.url });
  kv = await new Kvm(nc).create(LEDGER_BUCKET, { history: 1 });
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose(); // stop() would leave its store dir in /tmp
});

it("reads the beats of every replica, each read answering while the beats are rewritten", async () => {
  const keys = Array.from({ length: 6 }, (_, i) => replicaKey(`s3_d${i % 2}`, `replica-${i}`));
  const beat = (key: string, n: number) =>
    kv.put(
      key,
      JSON.stringify({
        destination: key.split(".")[1]!.replace("_", ":"),
        replicaId: key,
        breaker: "closed",
        intervalMs: 5_000,
        startedAt: new Date(0).toISOString(),
        n,
      }),
    );
  for (const key of keys) await beat(key, 0);
  let writing = true;
  const writer = (async () => {
    for (let n = 1; writing; n++) await Promise.all(keys.map((k) => beat(k, n)));
  })();
  try {
    for (let i = 0; i < 200; i++) {
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<"hung">((resolve) => {
        timer = setTimeout(() => resolve("hung"), 10_000);
      });
      const read = await Promise.race([readReplicaBeats(kv, jsm), hung]);
      clearTimeout(timer);
      expect(read, `read ${i}`).not.toBe("hung");
      expect((read as unknown[]).length).toBe(keys.length);
    }
  } finally {
    writing = false;
    await writer;
  }
}, 120_000);
