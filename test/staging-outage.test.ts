/**
 * The bus's own staging store away is a wait, not an upload attempt: on a three-node cluster, a
 * project's blob bucket lives on one node (one replica) while the events and the ledger keep
 * three; that node is killed after the trainer logged. The uploader, given two attempts, gets
 * its events but cannot read their bytes for longer than its attempts would last; none may die
 * of it, and all land once the node is back.
 */
import { join } from "node:path";
import { ArtifactPublisher, blobBucket, blobStream, connectNats, openBlobStores } from "@artifact-bus/shared";
import { eventually, writeRandomFile } from "@artifact-bus/testkit";
import { jetstreamManager, StorageType } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { afterAll, beforeAll, expect, it } from "vitest";
import { S3Stack } from "./harness/s3-stack.ts";

const PROJECT = "outage";
let stack: S3Stack;

beforeAll(async () => {
  stack = await S3Stack.start({
    cluster: true,
    destination: { maxDeliver: 2, backoff: { initialMs: 100, maxMs: 300, multiplier: 2, jitter: 0 } },
  });
  // One replica, so one node's loss takes the bucket away and nothing else.
  await new Objm(stack.bus.nc).create(blobBucket(PROJECT), { replicas: 1, storage: StorageType.File });
}, 120_000);
afterAll(async () => {
  await stack?.dispose();
});

it("an artifact whose staged bytes cannot be read while a node is away waits for it and lands, never dead", async () => {
  const nc = stack.bus.nc;
  const blobs = await openBlobStores({ ...stack.bus.config.staging, store: "nats" }, nc);
  const publisher = await ArtifactPublisher.create({ nc, blobStore: blobs.get("nats") });
  const run = `r${process.pid}`;
  const logged = [];
  for (let i = 0; i < 3; i++) {
    const path = join(stack.bus.dir, `outage-${i}.bin`);
    const bytes = writeRandomFile(path, 20_000 + i);
    const handle = await publisher.logFile({ project: PROJECT, run, name: `m-${i}.pt`, path });
    await handle.durable;
    logged.push({ id: handle.id, name: `m-${i}.pt`, bytes });
  }
  const cluster = stack.bus.cluster!;
  const host = await cluster.leaderOf(await jetstreamManager(nc), blobStream(PROJECT));
  await cluster.node(host).kill();
  try {
    const uploader = await stack.bus.startUploader();
    // Each artifact met the missing bucket more often than its two attempts allow.
    const waits = (id: string) =>
      uploader.lines.filter((l) => l.eventId === id && /staged blob cannot be read now/.test(String(l.msg))).length;
    const first = logged[0]!;
    await eventually(
      async () => {
        // A read may fail while the cluster notices the node is gone: asked again.
        const entry = await stack.bus.ledger({ id: first.id, project: PROJECT, run }).catch(() => undefined);
        return entry?.state === "dead" || waits(first.id) >= 3 ? true : undefined;
      },
      60_000,
      "the uploader waiting on the staged blob three times",
    );
    for (const a of logged) {
      const entry = await stack.bus.ledger({ id: a.id, project: PROJECT, run });
      expect(entry?.state, `${a.name}: ${entry?.error}`).not.toBe("dead");
    }
  } finally {
    await cluster.node(host).restart();
  }
  for (const a of logged) {
    const entry = await stack.bus.ledgerReaches({ id: a.id, project: PROJECT, run }, "uploaded", 60_000);
    expect(entry.attempts, `${a.name}: the waits were no attempts`).toBe(1);
    expect(await stack.getObject(`${PROJECT}/${run}/${a.name}`), a.name).toEqual(a.bytes);
  }
}, 240_000);

it("a trainer started while its server cannot answer (frozen longer than a request's timeout) waits for it, then logs", async () => {
  const cluster = stack.bus.cluster!;
  const name = cluster.names[0]!;
  const nc = await connectNats({ servers: [cluster.node(name).url] }, { name: "outage-trainer" });
  const blobs = await openBlobStores(stack.bus.config.staging, nc);
  await cluster.node(name).pause();
  let created: ArtifactPublisher | undefined;
  const creating = ArtifactPublisher.create({ nc, blobStore: blobs.get("fs"), publishTimeoutMs: 60_000 }).then((p) => {
    created = p;
    return p;
  });
  try {
    // Past the client's request timeout (5 s) while frozen: a start-up that gave up would reject.
    const outcome = await Promise.race([
      creating.then(
        () => "created",
        (err: Error) => `failed: ${err.message}`,
      ),
      new Promise((r) => setTimeout(() => r("still waiting"), 7_000)), // the freeze's length
    ]);
    expect(outcome).toBe("still waiting");
  } finally {
    cluster.node(name).resume();
  }
  const publisher = await creating;
  expect(created).toBe(publisher);
  const path = join(stack.bus.dir, "after-freeze.bin");
  const bytes = writeRandomFile(path, 1000);
  const handle = await publisher.logFile({ project: "demo", run: `f${process.pid}`, name: "after.pt", path });
  await handle.durable;
  await stack.bus.ledgerReaches({ id: handle.id, project: "demo", run: `f${process.pid}` }, "uploaded", 60_000);
  expect(await stack.getObject(`demo/f${process.pid}/after.pt`)).toEqual(bytes);
  await nc.close();
}, 120_000);
