/**
 * A hostile tenant against object-store staging, under the committed sample permissions
 * (deploy/nats/nats-server.conf) on a real nats-server: the trainer of project `demo` knows
 * exactly where project `vision`'s staged blob lives (bucket, stream, subjects, nuid, sequence)
 * and tries to read, overwrite and delete it, through the object store API and through raw
 * `$JS.API` requests and `$O.` publishes. Every attempt is refused, and the uploader still reads
 * vision's bytes unchanged.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { NatsServer } from "@artifact-bus/testkit";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Base64UrlPaddedCodec, Objm } from "@nats-io/obj";
import { connect, headers, type NatsConnection, PermissionViolationError } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsBlobStore } from "../src/blob/nats-store.ts";
import { parseConfig } from "../src/config/config.ts";
import { userInboxPrefix } from "../src/config/inbox-prefix.ts";
import type { BlobRef } from "../src/contract/schema.ts";
import { SAMPLE_CONFIG_PATH } from "../src/nats/permissions/sample-config.ts";
import { ensureTopology } from "../src/nats/topology.ts";
import { blobBucket, blobStream } from "../src/nats/topology-names.ts";

const pw = () => `pw-${randomBytes(12).toString("hex")}`;
const PASSWORDS = {
  NATS_ADMIN_PASSWORD: pw(),
  NATS_GATEWAY_PASSWORD: pw(),
  NATS_TRAINER_DEMO_PASSWORD: pw(),
  NATS_UPLOADER_S3_MINIO_PASSWORD: pw(),
  NATS_UPLOADER_SFTP_ARCHIVE_PASSWORD: pw(),
  NATS_UPLOADER_WANDB_TEAM_PASSWORD: pw(),
  NATS_UPLOADER_DIR_ARCHIVE_PASSWORD: pw(),
};
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const config = parseConfig({
  destinations: [
    { name: "s3:minio", filter: { project: "demo" } },
    { name: "sftp:archive", filter: { project: "vision" } },
  ],
});

let server: NatsServer;
let work: string;
const connections: NatsConnection[] = [];
let admin: NatsConnection;
let attacker: NatsConnection;
let uploader: NatsConnection;
let victim: BlobRef;
let victimBytes: Buffer;

async function as(user: string, pass: string): Promise<NatsConnection> {
  // Each user's replies come to its own inboxes, the only ones it may subscribe to.
  const nc = await connect({ servers: server.url, user, pass, inboxPrefix: userInboxPrefix(user) });
  connections.push(nc);
  return nc;
}

/** Where a blob really lives, found the way an insider would: every object store, by its meta subject. */
async function locate(ref: string) {
  const jsm = await jetstreamManager(admin);
  for await (const stream of jsm.streams.names()) {
    if (!stream.startsWith("OBJ_")) continue;
    const bucket = stream.slice("OBJ_".length);
    const meta = `$O.${bucket}.M.${Base64UrlPaddedCodec.encode(ref)}`;
    const m = await jsm.streams.getMessage(stream, { last_by_subj: meta });
    if (!m) continue;
    const info = m.json<{ nuid: string; deleted?: boolean; size: number }>();
    return { bucket, stream, meta, chunks: `$O.${bucket}.C.${info.nuid}`, info, seq: m.seq };
  }
  throw new Error(`blob ${ref} is in no object store`);
}

/** Rejected by the server for publishing to a subject starting with `subject`. */
const refused = (p: Promise<unknown>, subject: string) =>
  expect(p).rejects.toThrow(`Permissions Violation for Publish to "${subject}`);

beforeAll(async () => {
  server = await NatsServer.start({ config: readFileSync(SAMPLE_CONFIG_PATH, "utf8"), env: PASSWORDS });
  work = mkdtempSync(join(tmpdir(), "artifact-bus-blob-tenancy-"));
  admin = await as("admin", PASSWORDS.NATS_ADMIN_PASSWORD);
  await ensureTopology(admin, {
    stream: config.stream,
    destinations: config.destinations,
    blobProjects: ["demo", "vision"],
  });
  attacker = await as("trainer-demo", PASSWORDS.NATS_TRAINER_DEMO_PASSWORD);
  uploader = await as("uploader-s3_minio", PASSWORDS.NATS_UPLOADER_S3_MINIO_PASSWORD);
  // vision stages through the gateway (the sample's only way for a second project to stage).
  const gateway = await as("gateway", PASSWORDS.NATS_GATEWAY_PASSWORD);
  victimBytes = randomBytes(300 * 1024);
  writeFileSync(join(work, "victim"), victimBytes);
  const id = randomUUID();
  victim = await (await NatsBlobStore.open(gateway)).stage({
    path: join(work, "victim"),
    project: "vision",
    run: "r1",
    id,
  });
});
afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
  await server?.dispose();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("a trainer of project demo, against vision's staged blob", () => {
  it("stages its own project's blobs (so the refusals below are not a dead connection)", async () => {
    writeFileSync(join(work, "own"), "mine");
    const own = await (await NatsBlobStore.open(attacker)).stage({
      path: join(work, "own"),
      project: "demo",
      run: "r1",
      id: randomUUID(),
    });
    expect((await (await NatsBlobStore.open(uploader)).read(own)).toString()).toBe("mine");
  });

  it("cannot read it: object get, stream message get, direct get, a consumer", async () => {
    const where = await locate(victim.ref);
    const os = await new Objm(attacker).open(where.bucket, false);
    await expect(os.get(victim.ref)).rejects.toThrow(/Permissions Violation/);
    await expect(os.info(victim.ref)).rejects.toThrow(/Permissions Violation/);
    const jsm = await jetstreamManager(attacker);
    const get = `$JS.API.STREAM.MSG.GET.${where.stream}`;
    await refused(jsm.streams.getMessage(where.stream, { last_by_subj: where.chunks }), get);
    await refused(jsm.streams.getMessage(where.stream, { seq: 1 }), get);
    await refused(attacker.request(get, JSON.stringify({ last_by_subj: where.meta })), get);
    const direct = `$JS.API.DIRECT.GET.${where.stream}`;
    await refused(attacker.request(direct, JSON.stringify({ last_by_subj: where.chunks })), direct);
    await refused(attacker.request(`${direct}.${where.chunks}`, ""), direct);
    await refused(
      jsm.consumers.add(where.stream, { filter_subject: where.chunks, ack_policy: "none" as never }),
      `$JS.API.CONSUMER.CREATE.${where.stream}`,
    );
    await refused(jsm.streams.info(where.stream), `$JS.API.STREAM.INFO.${where.stream}`);
  });

  it("cannot overwrite it: object put, or chunks and a metadata rollup published by hand", async () => {
    const where = await locate(victim.ref);
    const os = await new Objm(attacker).open(where.bucket, false);
    await expect(os.putBlob({ name: victim.ref }, Buffer.from("forged"))).rejects.toThrow(/Permissions Violation/);
    const js = jetstream(attacker);
    const nuid = "FORGEDFORGEDFORGEDFORG";
    await refused(js.publish(`$O.${where.bucket}.C.${nuid}`, "forged"), `$O.${where.bucket}.C.${nuid}`);
    // Appending to the victim's own chunk subject would corrupt it as surely.
    await refused(js.publish(where.chunks, "forged"), where.chunks);
    const rollup = headers();
    rollup.set("Nats-Rollup", "sub");
    const forged = { ...where.info, nuid, size: 6, chunks: 1 };
    await refused(js.publish(where.meta, JSON.stringify(forged), { headers: rollup }), where.meta);
  });

  it("cannot delete it: object delete, a delete marker, a chunk rollup, purge, message delete", async () => {
    const where = await locate(victim.ref);
    const os = await new Objm(attacker).open(where.bucket, false);
    await expect(os.delete(victim.ref)).rejects.toThrow(/Permissions Violation/);
    const js = jetstream(attacker);
    const rollup = headers();
    rollup.set("Nats-Rollup", "sub");
    const marker = { ...where.info, deleted: true, size: 0, chunks: 0, digest: "" };
    await refused(js.publish(where.meta, JSON.stringify(marker), { headers: rollup }), where.meta);
    await refused(js.publish(where.chunks, new Uint8Array(0), { headers: rollup }), where.chunks);
    const jsm = await jetstreamManager(attacker);
    await refused(jsm.streams.purge(where.stream), `$JS.API.STREAM.PURGE.${where.stream}`);
    await refused(jsm.streams.purge(where.stream, { filter: where.chunks }), `$JS.API.STREAM.PURGE.${where.stream}`);
    await refused(jsm.streams.deleteMessage(where.stream, where.seq), `$JS.API.STREAM.MSG.DELETE.${where.stream}`);
    await refused(jsm.streams.delete(where.stream), `$JS.API.STREAM.DELETE.${where.stream}`);
  });

  it("cannot create a bucket, so it cannot squat a project's bucket before that project has one", async () => {
    const jsm = await jetstreamManager(attacker);
    await refused(
      jsm.streams.add({ name: "OBJ_artifact_blobs_newcomer", subjects: ["$O.artifact_blobs_newcomer.>"] }),
      "$JS.API.STREAM.CREATE.OBJ_artifact_blobs_newcomer",
    );
    // The client asks for the stream's info first: refused too.
    await expect(new Objm(attacker).create("artifact_blobs_demo2")).rejects.toThrow(/Permissions Violation/);
  });

  it("and after all that, the uploader reads vision's bytes unchanged", async () => {
    expect((await locate(victim.ref)).info.deleted ?? false).toBe(false);
    const bytes = await (await NatsBlobStore.open(uploader)).read(victim);
    expect(bytes.length).toBe(victimBytes.length);
    expect(sha256(bytes)).toBe(victim.sha256);
  });
});

describe("a trainer's failed staging", () => {
  it("is cleaned up with the trainer's own rights, and rejects with its real cause", async () => {
    const trainer = await as("trainer-demo", PASSWORDS.NATS_TRAINER_DEMO_PASSWORD);
    const store = await NatsBlobStore.open(trainer);
    const seen: string[] = [];
    void (async () => {
      for await (const s of trainer.status()) {
        if (s.type === "error" && s.error instanceof PermissionViolationError) seen.push(s.error.message);
      }
    })();
    const jsm = await jetstreamManager(admin);
    const stream = blobStream("demo");
    const before = (await jsm.streams.info(stream)).state.bytes;
    // Three chunks reach the bucket, then the source fails (a reader that went away).
    async function* failing() {
      for (let i = 0; i < 3; i++) yield randomBytes(512 * 1024);
      throw new Error("the trainer's disk went away");
    }
    const ref = { project: "demo", run: "r9", id: randomUUID() };
    const err = await store.stageStream(Readable.from(failing()), ref).catch((e: unknown) => e);
    expect((err as Error).message).toBe("the trainer's disk went away");
    // No object, and the chunks sent were rolled up (no purge, which the trainer may not use).
    const objects = await new Objm(admin).open(blobBucket("demo"));
    expect(await objects.info(`demo/r9/${ref.id}`)).toBeNull();
    expect((await jsm.streams.info(stream)).state.bytes - before).toBeLessThan(64 * 1024);
    expect(seen).toEqual([]);
  });
});
