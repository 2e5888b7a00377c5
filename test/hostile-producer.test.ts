/**
 * A hostile producer under the committed sample permissions (deploy/nats/nats-server.conf):
 * `trainer-demo` may publish only on its own project's subjects, and the uploaders believe nothing
 * in a body that its subject does not vouch for. Every forged event ends dead at once, as invalid,
 * naming the field, with a ledger entry a waiting producer can see, and touches no destination.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  type ArtifactEventV1,
  ArtifactPublisher,
  artifactKey,
  eventSubject,
  FsBlobStore,
  openBlobStores,
} from "@artifact-bus/shared";
import { eventually, sha256, type UploaderProcess, writeRandomFile } from "@artifact-bus/testkit";
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Trainer } from "./harness/bus-stack.ts";
import { RawProducer, withUploader as withBusUploader } from "./harness/raw-producer.ts";
import { S3Stack } from "./harness/s3-stack.ts";

let stack: S3Stack;
let trainer: Trainer;
let staging: FsBlobStore;
let raw: RawProducer;

beforeAll(async () => {
  stack = await S3Stack.start({ secured: true });
  trainer = await stack.bus.trainer();
  staging = new FsBlobStore(stack.bus.config.staging.dir);
  raw = new RawProducer(trainer.nc, staging, stack.bus.dir);
});
afterAll(async () => {
  await trainer?.close();
  await stack?.dispose();
});

/** A well-formed event of trainer-demo, before any forgery. */
const demoEvent = (run: string, name: string, bytes: Buffer) => raw.event("demo", run, name, bytes);
const stage = (project: string, run: string, id: string, bytes: Buffer) => raw.stage(project, run, id, bytes);
/** Publishes `body` as trainer-demo on `subject`, raw, as a producer in any language could. */
const publishRaw = (subject: string, body: ArtifactEventV1) => raw.publish(subject, body, body.id);

const ref = (e: ArtifactEventV1) => ({ id: e.id, project: e.project, run: e.run });

const withUploader = <T>(fn: (u: UploaderProcess) => Promise<T>) => withBusUploader(stack.bus, fn);

async function letterOf(eventId: string) {
  return eventually(
    async () => (await stack.bus.deadLetters()).find((l) => l.eventId === eventId),
    20_000,
    `a dead letter for ${eventId}`,
  );
}

describe("a hostile producer", () => {
  it("a body claiming another project, on its own subject, is dead at once and leaves the victim's object alone", async () => {
    await withUploader(async () => {
      // The victim's artifact, logged by someone allowed to (the operator).
      const admin = await ArtifactPublisher.create({
        nc: stack.bus.nc,
        blobStore: (await openBlobStores(stack.bus.config.staging)).get("fs"),
      });
      const victimPath = join(stack.bus.dir, "victim.pt");
      const victimBytes = writeRandomFile(victimPath, 5000);
      await admin.logFile({ project: "victim", run: "r1", name: "models/best.pt", path: victimPath });
      await admin.flush({ timeoutMs: 20_000 });

      const forged = await demoEvent("r1", "models/best.pt", Buffer.from("attacker bytes"));
      const asVictim = { ...forged, project: "victim", blob: await stage("victim", "r1", forged.id, Buffer.from("x")) };
      await publishRaw(eventSubject(forged), asVictim); // its own subject: the server allows it
      const entry = await stack.bus.ledgerReaches(ref(forged), "dead");
      expect(entry).toMatchObject({ errorClass: "invalid", attempts: 0 });
      expect(entry.error).toMatch(/invalid event: project: the event says "victim", its subject "demo"/);
      const letter = await letterOf(forged.id);
      expect(letter).toMatchObject({ errorClass: "invalid", project: "demo", run: "r1" });
      expect(await stack.getObject("victim/r1/models/best.pt")).toEqual(victimBytes);
    });
  });

  it("a second name on one subject key is dead as invalid; the real version is uploaded, not superseded", async () => {
    const real = await demoEvent("r2", "a.pt", writeRandomFile(join(stack.bus.dir, "a.pt"), 2 << 20));
    await publishRaw(eventSubject(real), real);
    const squatter = await demoEvent("r2", "b.pt", Buffer.from("other name"));
    await publishRaw(eventSubject(real), squatter); // b.pt on a.pt's key
    await withUploader(async () => {
      expect(await stack.bus.ledgerReaches(ref(real), "uploaded")).toBeDefined();
      const entry = await stack.bus.ledgerReaches(ref(squatter), "dead");
      expect(entry.error).toMatch(/invalid event: name: the event says "b.pt" \(key \w+\), its subject key/);
      expect(sha256((await stack.getObject("demo/r2/a.pt"))!)).toBe(real.blob.sha256);
      expect(await stack.getObject("demo/r2/b.pt")).toBeUndefined();
      // It deletes no blob: the one its subject and id name may be another message's (a valid
      // event with that id, published later, must still land). The sweeper removes it.
      await stack.bus.ledgerReaches(ref(real), "uploaded");
      expect(existsSync(staging.localPath(squatter.blob))).toBe(true);
    });
  });

  it("a blob ref outside its project is refused at once: one letter, no retries, the breaker stays closed", async () => {
    await withUploader(async (uploader) => {
      const e = await demoEvent("r3", "passwd", Buffer.from("x"));
      const traversal = { ...e, blob: { ...e.blob, ref: "../../etc/passwd" } };
      await publishRaw(eventSubject(e), traversal);
      const entry = await stack.bus.ledgerReaches(ref(e), "dead");
      expect(entry).toMatchObject({ attempts: 0, errorClass: "invalid" });
      expect(entry.error).toMatch(/invalid event: blob.ref: "..\/..\/etc\/passwd" must be "demo\/r3\//);
      await letterOf(e.id);
      await eventually(
        async () => ((await stack.bus.consumerInfo()).num_ack_pending === 0 ? true : undefined),
        10_000,
        "the invalid event terminated",
      );
      expect((await stack.bus.deadLetters()).filter((l) => l.eventId === e.id)).toHaveLength(1);
      expect(uploader.lines.filter((l) => l.msg === "invalid event: dead-lettering")).toHaveLength(1);
      expect(uploader.lines.find((l) => l.msg === "breaker open: pausing pulls")).toBeUndefined();
    });
  });

  it("replay fields in a body mark nothing, and the replay subject is the operator's only", async () => {
    await withUploader(async () => {
      // An event of trainer-demo that died (its blob never staged).
      const dead = await demoEvent("r4", "dead.pt", Buffer.from("x"));
      await staging.remove(dead.blob);
      await publishRaw(eventSubject(dead), dead);
      await stack.bus.ledgerReaches(ref(dead), "dead");
      // A "replay" forged in a body: an ordinary event, which must not mark the dead one uploaded.
      const forged = await demoEvent("r4", "dead.pt", Buffer.from("pretend replay"));
      await publishRaw(eventSubject(forged), { ...forged, replayOf: dead.id, replayFor: "s3:minio" } as never);
      await stack.bus.ledgerReaches(ref(forged), "uploaded");
      expect(await stack.bus.ledger(ref(dead))).toMatchObject({ state: "dead" });
      const subject = `artifacts.v1.replay.s3_minio.demo.r4.fit.${artifactKey("dead.pt")}`;
      const err = await jetstream(trainer.nc)
        .publish(subject, JSON.stringify(dead))
        .catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/Permissions Violation for Publish to "artifacts.v1.replay/);
    });
  });
});
