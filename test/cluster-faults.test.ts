/**
 * The bus on a real three-node JetStream cluster on loopback, with 8 trainer processes publishing
 * and 2 uploader replicas uploading to the real S3 server, through node faults: a non-leader node
 * killed for 20 s, the stream leader killed for 20 s, a node frozen (SIGSTOP) for 30 s. Every
 * event that got a PubAck is uploaded, byte for byte; the newest version of a name wins.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { EVENTS_STREAM, LEDGER_BUCKET, type LedgerEntry } from "@artifact-bus/shared";
import { eventually, sha256 } from "@artifact-bus/shared/testing";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Stack } from "./harness/s3-stack.ts";

const TRAINER = resolve(import.meta.dirname, "harness/trainer-main.ts");
let stack: S3Stack;

beforeAll(async () => {
  stack = await S3Stack.start({ cluster: true, destination: { ackWaitMs: 10_000, concurrency: 8 } });
}, 120_000);
afterAll(async () => {
  await stack?.dispose();
});

interface Acked {
  id: string;
  name: string;
  sha256: string;
  seq: number;
  ms: number;
}

/** A trainer process; its PubAcked artifacts, its errors, and a promise of its end. */
function startTrainer(run: string) {
  const proc: ChildProcess = spawn(process.execPath, [TRAINER], {
    env: {
      ...process.env,
      ARTIFACT_BUS_CONFIG: stack.bus.configPath,
      ARTIFACT_BUS_LOG_LEVEL: "warn",
      TRAINER_PROJECT: "cluster",
      TRAINER_RUN: run,
      TRAINER_DIR: stack.bus.dir,
      TRAINER_INTERVAL_MS: "100",
      TRAINER_LATEST_EVERY: "5",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const acked: Acked[] = [];
  const errors: string[] = [];
  const done = new Promise<void>((res) => {
    createInterface({ input: proc.stdout! }).on("line", (line) => {
      const msg = JSON.parse(line);
      if (msg.error) errors.push(msg.error);
      else if (msg.done) res();
      else acked.push(msg);
    });
    proc.once("exit", () => res());
  });
  return { proc, acked, errors, done };
}

describe("a three-node cluster", () => {
  it("keeps every PubAcked artifact through a killed follower, a killed leader and a frozen node", async () => {
    const jsm = await jetstreamManager(stack.bus.nc);
    for (const name of [EVENTS_STREAM, `KV_${LEDGER_BUCKET}`]) {
      expect((await jsm.streams.info(name)).config.num_replicas, name).toBe(3);
    }
    const uploaders = await Promise.all([stack.bus.startUploader(), stack.bus.startUploader()]);
    const run = `faults-${process.pid}`;
    const trainers = Array.from({ length: 8 }, () => startTrainer(run));
    const acked = () => trainers.reduce((n, t) => n + t.acked.length, 0);
    const cluster = stack.bus.cluster!;
    const hold = (ms: number) => new Promise((r) => setTimeout(r, ms)); // a fault's length, not a wait for a result

    await eventually(() => (acked() >= 40 ? true : undefined), 30_000, "trainers publishing");
    const leader = await cluster.leaderOf(jsm, EVENTS_STREAM);
    const follower = cluster.names.find((n) => n !== leader)!;
    await cluster.node(follower).kill();
    await hold(20_000);
    await cluster.node(follower).restart();

    const newLeader = await cluster.leaderOf(jsm, EVENTS_STREAM);
    await cluster.node(newLeader).kill();
    await hold(20_000);
    await cluster.node(newLeader).restart();

    const frozen = cluster.names.find((n) => n !== newLeader)!;
    await cluster.node(frozen).pause();
    try {
      await hold(30_000);
    } finally {
      cluster.node(frozen).resume();
    }
    const before = acked();
    await eventually(() => (acked() >= before + 40 ? true : undefined), 60_000, "trainers publishing after the faults");
    for (const t of trainers) t.proc.kill("SIGTERM");
    await Promise.all(trainers.map((t) => t.done));

    // Trainers saw at most a pause: nothing failed, whatever the slowest logFile took.
    expect([...new Set(trainers.flatMap((t) => t.errors))]).toEqual([]);
    const all = trainers.flatMap((t) => t.acked);
    const slowest = Math.max(...all.map((a) => a.ms));
    console.log(`cluster faults: ${all.length} artifacts acked, slowest logFile ${(slowest / 1000).toFixed(1)} s`);

    const entries = await eventually(
      async () => {
        // Reads may fail while the cluster settles ("JetStream system temporarily unavailable").
        const got = await Promise.all(all.map((a) => stack.bus.ledger({ id: a.id, project: "cluster", run }))).catch(
          () => [],
        );
        if (got.length === 0) return undefined;
        return got.every((e) => e?.state === "uploaded" || e?.state === "superseded")
          ? (got as LedgerEntry[])
          : undefined;
      },
      180_000,
      "every acked artifact final in the ledger",
      1000,
    );
    // Reported, not asserted: an upload whose ledger write failed while a node was away is
    // retried over the same object name, which is harmless (same bytes, same key).
    console.log(`cluster faults: ${entries.filter((e) => e.attempts > 1).length} uploads took more than one attempt`);
    expect(entries.filter((e) => e.state === "superseded").every((e) => e.name.endsWith("latest.pt"))).toBe(true);
    for (const a of all.filter((x) => !x.name.endsWith("latest.pt"))) {
      const got = await stack.getObject(`cluster/${run}/${a.name}`);
      expect(got && sha256(got), a.name).toBe(a.sha256);
    }
    // Per trainer, the newest acked version of latest.pt is the object.
    for (const t of trainers) {
      const versions = t.acked.filter((a) => a.name.endsWith("latest.pt")).sort((x, y) => x.seq - y.seq);
      const newest = versions.at(-1)!;
      const got = await stack.getObject(`cluster/${run}/${newest.name}`);
      expect(got && sha256(got), newest.name).toBe(newest.sha256);
    }
    await Promise.all(uploaders.map((u) => u.kill("SIGTERM")));
  }, 600_000);
});
