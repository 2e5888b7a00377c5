import { jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../src/config/config.ts";
import { connectNats } from "../src/nats/connect.ts";
import { ensureTopology } from "../src/nats/topology.ts";
import { blobStream, DLQ_STREAM, EVENTS_STREAM, LEDGER_BUCKET } from "../src/nats/topology-names.ts";

const BLOBS = blobStream("retained");

import { NatsServer } from "@artifact-bus/testkit";
import { Ledger } from "../src/ledger/ledger.ts";

const DAY = 24 * 3600_000;
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
    // Unlimited: the runtime counts attempts and dead-letters itself (waits are not attempts).
    expect(s3.config.max_deliver).toBe(-1);
    const replays = await jsm.consumers.info(EVENTS_STREAM, "replay_s3_main");
    expect(replays.config.filter_subject).toBe("artifacts.v1.replay.s3_main.>");
    expect(events.config.subjects).toEqual(["artifacts.v1.events.>", "artifacts.v1.replay.>"]);
    const sftp = await jsm.consumers.info(EVENTS_STREAM, "dest_sftp_archive");
    expect(sftp.config.ack_wait).toBe(5000 * 1_000_000);
    expect(await new Kvm(nc).open(LEDGER_BUCKET)).toBeDefined();

    // A changed setting is applied to the existing consumer on the next run.
    await ensureTopology(nc, { ...opts, destinations: [{ ...config.destinations[1]!, ackWaitMs: 9000 }] });
    expect((await jsm.consumers.info(EVENTS_STREAM, "dest_sftp_archive")).config.ack_wait).toBe(9000 * 1_000_000);
  });

  it("keeps a dead event's ledger entry and blob as long as its letter, also when an existing topology is re-applied", async () => {
    const jsm = await jetstreamManager(nc);
    const maxAges = async () =>
      Object.fromEntries(
        await Promise.all(
          [EVENTS_STREAM, DLQ_STREAM, `KV_${LEDGER_BUCKET}`, BLOBS].map(async (name) => [
            name,
            (await jsm.streams.info(name)).config.max_age / 1_000_000 / DAY,
          ]),
        ),
      );
    await ensureTopology(nc, { stream: parseConfig({}).stream, destinations: [], blobProjects: ["retained"] });
    expect(await maxAges()).toEqual({
      [EVENTS_STREAM]: 7,
      [DLQ_STREAM]: 28,
      [`KV_${LEDGER_BUCKET}`]: 28,
      [BLOBS]: 42,
    });
    // Letters kept longer than the ledger's TTL used to be: the existing ledger follows.
    const stream = parseConfig({ stream: { deadLetterMaxAgeMs: 40 * DAY } }).stream;
    await ensureTopology(nc, { stream, destinations: [], blobProjects: ["retained"] });
    expect(await maxAges()).toEqual({
      [EVENTS_STREAM]: 7,
      [DLQ_STREAM]: 40,
      [`KV_${LEDGER_BUCKET}`]: 40,
      [BLOBS]: 54,
    });
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
    expect(
      await ledger.recordUnlessTerminal("s3_main", { ...base, state: "pending", error: "first try" }),
    ).toBeGreaterThan(0);
    await ledger.record("s3_main", { ...base, attempts: 2, state: "uploaded", location: "s3://b/k" });
    // The first delivery's handler times out only now, after the redelivery finished the event.
    expect(
      await ledger.recordUnlessTerminal("s3_main", { ...base, state: "pending", error: "TimeoutError" }),
    ).toBeUndefined();
    expect(await ledger.get("s3_main", base)).toMatchObject({ state: "uploaded", attempts: 2 });
  });

  it("a late upload never replaces superseded or dead; it replaces what is on the way, its own upload, another message's entry", async () => {
    const ledger = new Ledger(await new Kvm(nc).open(LEDGER_BUCKET));
    let n = 0;
    const entry = () => ({
      destination: "s3:main",
      eventId: `late-upload-${++n}`,
      project: "p",
      run: "r",
      name: "n",
      streamSeq: 9,
      attempts: 1,
    });
    const uploaded = { state: "uploaded" as const, location: "s3://b/k", attempts: 1 };
    // A holder that outlived its lease finishes after the replica that took the key decided.
    for (const verdict of [
      { state: "superseded" as const, supersededBy: 12 },
      { state: "dead" as const, error: "gave up", errorClass: "transient" as const, dlqSeq: 3 },
    ]) {
      const base = entry();
      await ledger.record("s3_main", { ...base, ...verdict });
      expect(await ledger.recordUploaded("s3_main", { ...base, ...uploaded })).toBeUndefined();
      expect(await ledger.get("s3_main", base)).toMatchObject(verdict);
    }
    const stages = [
      undefined,
      { state: "pending" as const, error: "first try" },
      { state: "uploading" as const, bytesDone: 10 },
      // A redelivery finishing after a crash lost the ack of the first upload.
      { state: "uploaded" as const, location: "s3://b/k" },
      // An invalid message that carried this event's id (another stream sequence).
      { state: "dead" as const, error: "bad blob ref", errorClass: "invalid" as const, streamSeq: 10 },
    ];
    for (const stage of stages) {
      const base = entry();
      if (stage) await ledger.record("s3_main", { ...base, ...stage });
      expect(await ledger.recordUploaded("s3_main", { ...base, ...uploaded })).toBeGreaterThan(0);
      expect(await ledger.get("s3_main", base)).toMatchObject({ state: "uploaded", streamSeq: 9 });
    }
  });
});
