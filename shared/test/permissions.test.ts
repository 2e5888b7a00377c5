/**
 * The committed least-privilege sample (deploy/nats/nats-server.conf) run by a real nats-server:
 * a trainer and the real uploader runtime do their whole job with it, and every step outside a
 * role is refused by the server.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { NatsServer } from "@artifact-bus/testkit";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { connect, type NatsConnection, PermissionViolationError } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsBlobStore } from "../src/blob/nats-store.ts";
import { parseConfig } from "../src/config/config.ts";
import { retentionOf } from "../src/config/retention.ts";
import { blobStillNeeded } from "../src/delivery/blob-release.ts";
import type { Destination } from "../src/destination/destination.ts";
import { PermanentError } from "../src/destination/errors.ts";
import { pauseDestination, readDestinationPause, resumeDestination } from "../src/ledger/destination-pause.ts";
import { Ledger } from "../src/ledger/ledger.ts";
import { silentLogger } from "../src/log.ts";
import { connectNats } from "../src/nats/connect.ts";
import { DestinationDirectory } from "../src/nats/destinations.ts";
import { trainerPermissions, trainerUser, uploaderPermissions } from "../src/nats/permissions/grants.ts";
import { SAMPLE_CONFIG_PATH, sampleServerConfig } from "../src/nats/permissions/sample-config.ts";
import { renderServerConfig } from "../src/nats/permissions/server-config.ts";
import { ensureTopology } from "../src/nats/topology.ts";
import { blobBucket, blobStream, DLQ_STREAM, EVENTS_STREAM, LEDGER_BUCKET } from "../src/nats/topology-names.ts";
import { ArtifactPublisher } from "../src/publisher/publisher.ts";
import { startUploaderService } from "../src/service/uploader-service.ts";

// Letters first: the server parses an env value as config, and digits alone would be a number.
const pw = () => `pw-${randomBytes(12).toString("hex")}`;
const PASSWORDS = {
  NATS_GATEWAY_PASSWORD: pw(),
  NATS_TRAINER_DEMO_PASSWORD: pw(),
  NATS_UPLOADER_S3_MINIO_PASSWORD: pw(),
  NATS_UPLOADER_SFTP_ARCHIVE_PASSWORD: pw(),
  NATS_UPLOADER_WANDB_TEAM_PASSWORD: pw(),
  NATS_UPLOADER_DIR_ARCHIVE_PASSWORD: pw(),
};
// The admin's is a bcrypt hash (cost 10) of ADMIN_PASSWORD, quoted as the sample's header says.
const ADMIN_PASSWORD = "admin-test-password";
const ADMIN_BCRYPT = '"$2b$10$/lQ0q0U21sTGRvYd36.AHuMZq2I5Pb1BP2CsI6YMWK7avVGy8klUm"';
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

const config = parseConfig({
  destinations: [
    { name: "s3:minio", filter: { project: "demo" } },
    { name: "sftp:archive", filter: { project: "vision" } },
  ],
});
let server: NatsServer;
let work: string;
let admin: NatsConnection;
let trainer: NatsConnection;
let uploader: NatsConnection;

const as = (user: string, password: string) =>
  connectNats({ servers: [server.url], user }, { name: user, env: { ARTIFACT_BUS_NATS_PASSWORD: password } });

/** Permission errors the server reports on `nc` from now on (they also arrive for fire-and-forget publishes). */
function watchPermissionErrors(nc: NatsConnection): string[] {
  const seen: string[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error" && s.error instanceof PermissionViolationError) seen.push(s.error.message);
    }
  })();
  return seen;
}

async function nextPermissionError(nc: NatsConnection, trigger: () => unknown): Promise<PermissionViolationError> {
  const status = nc.status();
  await trigger();
  for await (const s of status) {
    if (s.type === "error" && s.error instanceof PermissionViolationError) return s.error;
  }
  throw new Error("connection closed before a permission error");
}

beforeAll(async () => {
  // nats-server inherits this process's environment, where the sample reads its passwords.
  Object.assign(process.env, PASSWORDS, { NATS_ADMIN_PASSWORD: ADMIN_BCRYPT });
  server = await NatsServer.start({ config: readFileSync(SAMPLE_CONFIG_PATH, "utf8") });
  work = mkdtempSync(join(tmpdir(), "artifact-bus-permissions-"));
  admin = await as("admin", ADMIN_PASSWORD);
  await ensureTopology(admin, { stream: config.stream, destinations: config.destinations, blobProjects: ["demo"] });
  trainer = await as("trainer-demo", PASSWORDS.NATS_TRAINER_DEMO_PASSWORD);
  uploader = await as("uploader-s3_minio", PASSWORDS.NATS_UPLOADER_S3_MINIO_PASSWORD);
});
afterAll(async () => {
  await Promise.all([admin, trainer, uploader].map((nc) => nc?.close()));
  await server?.dispose();
  if (work) rmSync(work, { recursive: true, force: true });
  for (const k of [...Object.keys(PASSWORDS), "NATS_ADMIN_PASSWORD"]) delete process.env[k];
});

describe("the sample config", () => {
  it("is the rendered sample (run `npm run nats-sample` when this fails)", () => {
    expect(readFileSync(SAMPLE_CONFIG_PATH, "utf8")).toBe(sampleServerConfig());
  });

  it("builds roles only from valid names, so nothing can widen a grant", () => {
    for (const bad of ["a.b", "*", ">", "a b", ""]) expect(() => trainerPermissions(bad)).toThrow(/project/);
    for (const bad of ["s3_main.>", "s3main", "S3_main", "s3_*", "s3:main"]) {
      expect(() => uploaderPermissions(bad)).toThrow(/destination token/);
    }
    const user = trainerUser("llm");
    expect(() => renderServerConfig({ users: [user, user] })).toThrow(/twice/);
    expect(() => renderServerConfig({ users: [{ ...user, password: { env: "A-B" } }] })).toThrow(/env/);
    expect(() => renderServerConfig({ users: [{ ...user, password: { value: 'x"y' } }] })).toThrow(/password/);
    const open = { ...user.permissions, subscribe: [] };
    expect(() => renderServerConfig({ users: [{ ...user, permissions: open }] })).toThrow(/empty subscribe/);
  });

  it("authenticates users by the passwords in the server's environment", async () => {
    await expect(connect({ servers: server.url, user: "trainer-demo", pass: "wrong" })).rejects.toThrow(/auth/i);
    await expect(connect({ servers: server.url, user: "admin", pass: ADMIN_BCRYPT })).rejects.toThrow(/auth/i);
    await expect(connect({ servers: server.url })).rejects.toThrow(/auth/i);
  });
});

describe("a trainer and the uploader runtime doing their jobs", () => {
  it("log through the object store, upload, coalesce, dead-letter, release done blobs and flush", async () => {
    const trainerErrors = watchPermissionErrors(trainer);
    const blobStore = await NatsBlobStore.open(trainer);
    const publisher = await ArtifactPublisher.create({ nc: trainer, blobStore });
    // The older version is large: for a key's first version the runtime looks for newer ones
    // (coalescing) only where an upload would cost more than the look-up.
    const files = { old: randomBytes(2 * 1024 * 1024), big: randomBytes(3 * 1024 * 1024 + 7), poison: randomBytes(10) };
    for (const [k, bytes] of Object.entries(files)) writeFileSync(join(work, k), bytes);
    // Two versions of one name before any uploader runs: the older must be superseded.
    const log = async (name: string, file: string) =>
      (await publisher.logFile({ project: "demo", run: "r1", name, path: join(work, file) })).durable;
    const older = await log("ckpt/model.pt", "old");
    const newer = await log("ckpt/model.pt", "big");
    const poison = await log("poison.txt", "poison");
    expect(newer.destinations).toEqual(["s3:minio"]);

    const received = new Map<string, Buffer>();
    const destination = (name: string): Destination => ({
      name,
      orderKey: (event) => `${event.project}/${event.run}/${event.name}`,
      async upload(artifact) {
        const bytes = await artifact.read(AbortSignal.timeout(10_000)); // object store get, verified
        if (artifact.event.name === "poison.txt") throw new PermanentError("rejected by the test destination");
        received.set(artifact.event.id, bytes);
        return { location: `mem://${artifact.event.name}`, size: bytes.length };
      },
      probe: async () => {},
      close: async () => {},
    });
    process.env.ARTIFACT_BUS_NATS_PASSWORD = PASSWORDS.NATS_UPLOADER_S3_MINIO_PASSWORD;
    const service = await startUploaderService(
      { kind: "s3", create: (d) => destination(d.name) },
      {
        config: {
          ...config,
          nats: { servers: [server.url], user: "uploader-s3_minio" },
          staging: { ...config.staging, store: "nats", dir: join(work, "staging") },
        },
        log: silentLogger,
        handleSignals: false,
      },
    ).finally(() => delete process.env.ARTIFACT_BUS_NATS_PASSWORD);
    const uploaderErrors = watchPermissionErrors(service.nc);
    try {
      // The trainer reads the ledger, and learns by name that poison.txt never landed.
      await expect(publisher.flush({ timeoutMs: 30_000 })).rejects.toThrow(/poison\.txt at s3:minio \(PermanentError/);
    } finally {
      await service.stop(); // waits for in-flight work, blob release included
    }

    const ledger = new Ledger(await new Kvm(admin).open(LEDGER_BUCKET));
    const ref = (a: typeof older) => ({ project: a.project, run: a.run, eventId: a.id });
    expect((await ledger.get("s3_minio", ref(older)))?.state).toBe("superseded");
    expect(await ledger.get("s3_minio", ref(newer))).toMatchObject({
      state: "uploaded",
      location: "mem://ckpt/model.pt",
    });
    expect((await ledger.get("s3_minio", ref(poison)))?.state).toBe("dead");
    expect(sha256(received.get(newer.id)!)).toBe(sha256(files.big));
    expect([...received.keys()]).toEqual([newer.id]);
    const letter = await (await jetstreamManager(admin)).streams.getMessage(DLQ_STREAM, {
      last_by_subj: "artifacts.v1.dlq.s3_minio",
    });
    expect(letter?.json<{ eventId: string }>().eventId).toBe(poison.id);
    const blobs = await new Objm(admin).open(blobBucket("demo"));
    // Released blobs are gone (a delete marker is left, expiring with the bucket's max age).
    for (const a of [older, newer]) expect((await blobs.info(a.blob.ref))?.deleted).toBe(true);
    expect(await blobs.get(older.blob.ref)).toBeNull();
    // A dead event keeps its blob for a replay of its DLQ entry.
    expect((await blobs.info(poison.blob.ref))?.deleted).toBe(false);
    // Errors the runtime swallows (blob release, coalescing, sweeper) still reach the connection.
    // Between full listings a trainer checks the destinations' names (logFile after 5 s).
    const names = (await trainer.request("$JS.API.CONSUMER.NAMES.ARTIFACTS", "{}")).json<{ consumers: string[] }>();
    expect(names.consumers).toContain("dest_s3_minio");
    expect(uploaderErrors).toEqual([]);
    expect(trainerErrors).toEqual([]);
  });

  it("a trainer opens its own bucket with a standard object store client, and no other", async () => {
    const objm = new Objm(trainer);
    // What the open() needs (stream info); a put then goes through the object grants the
    // publisher's own staging uses (the first describe).
    const bucket = await objm.open(blobBucket("demo"));
    expect(await bucket.info(`demo/std-client/${randomBytes(4).toString("hex")}`)).toBeNull();
    await expect(objm.open(blobBucket("vision"))).rejects.toThrow(
      'Permissions Violation for Publish to "$JS.API.STREAM.INFO.OBJ_artifact_blobs_vision"',
    );
  });

  it("an uploader fetches and acks its own consumer, reads and sweeps blobs", async () => {
    const staged = await (await NatsBlobStore.open(trainer)).stage({
      path: join(work, "poison"),
      project: "demo",
      run: "r2",
      id: "sweep-me",
    });
    await jetstream(admin).publish("artifacts.v1.events.demo.r2.fit.k1", "not an event");
    const errors = watchPermissionErrors(uploader);
    const consumer = await jetstream(uploader).consumers.get(EVENTS_STREAM, "dest_s3_minio");
    const batch = await consumer.fetch({ max_messages: 1, expires: 5000 });
    for await (const m of batch) {
      expect(m.subject).toBe("artifacts.v1.events.demo.r2.fit.k1");
      expect(await m.ackAck()).toBe(true);
    }
    expect((await (await jetstreamManager(admin)).consumers.info(EVENTS_STREAM, "dest_s3_minio")).num_pending).toBe(0);
    const store = await NatsBlobStore.open(uploader);
    expect(sha256(await buffer(await store.open(staged)))).toBe(staged.sha256);
    // The sweeper lists the project buckets, reads them by message gets and deletes by rollups,
    // after asking the ledger (other destinations' entries too) whether a dead letter still needs
    // a blob: the dead event's blob of the test before stays for a replay, the one whose event
    // never came goes.
    const ledger = new Ledger(await new Kvm(uploader).open(LEDGER_BUCKET));
    const directory = new DestinationDirectory(uploader, ledger.kv);
    const keep = blobStillNeeded(ledger, directory, retentionOf(config.stream).deadLettersMs);
    expect(await store.sweep(0, keep)).toBe(1);
    const bucket = await new Objm(admin).open(blobBucket("demo"));
    expect((await bucket.info(staged.ref))?.deleted).toBe(true);
    const left = (await bucket.list()).filter((i) => !i.deleted).map((i) => i.name);
    expect(left).toEqual([expect.stringMatching(/^demo\/r1\//)]);
    expect(await store.exists({ store: "nats", ref: left[0]! })).toBe(true);
    expect(errors).toEqual([]);
  });
});

describe("refused by the server", () => {
  /** Rejected for publishing to `subject` (a prefix of the request subject). */
  const refused = (p: Promise<unknown>, subject: string) =>
    expect(p).rejects.toThrow(`Permissions Violation for Publish to "${subject}`);

  it("no user but the admin hears another's replies: each subscribes to its own inboxes only", async () => {
    // Replies carry what a tenant must not see: PubAcks and ledger reads of other projects, the
    // uploader's fetched events and the staged blob bytes it reads, of every project.
    for (const subject of ["_INBOX.>", "_INBOX_uploader-s3_minio.>", "_INBOX_gateway.x", "_INBOX_trainer-vision.>"]) {
      const err = await nextPermissionError(trainer, () => trainer.subscribe(subject));
      expect(err.message).toContain(`Permissions Violation for Subscription to "${subject}"`);
    }
    // Its own inboxes, where its requests' answers come (connectNats sets the prefix): the
    // trainer's whole job with them is the first describe's.
    const own = trainer.subscribe("_INBOX_trainer-demo.probe");
    await trainer.flush();
    expect(own.isClosed()).toBe(false);
    own.unsubscribe();
  });

  it("a trainer cannot publish for another project, consume, write the ledger or change topology", async () => {
    const js = jetstream(trainer);
    const jsm = await jetstreamManager(trainer);
    await refused(js.publish("artifacts.v1.events.vision.r1.fit.k1", "{}"), "artifacts.v1.events.vision.r1");
    // DLQ replays, which keep their original's place in the key's order, are for operators only.
    await refused(js.publish("artifacts.v1.replay.s3_minio.demo.r1.fit.k1", "{}"), "artifacts.v1.replay.s3_minio");
    await refused(js.publish("artifacts.v1.dlq.s3_minio", "{}"), "artifacts.v1.dlq.s3_minio");
    await refused(jsm.streams.add({ name: "EVIL", subjects: ["evil.>"] }), "$JS.API.STREAM.CREATE.EVIL");
    const durable = { durable_name: "dest_evil", ack_policy: AckPolicy.Explicit };
    await refused(jsm.consumers.add(EVENTS_STREAM, durable), "$JS.API.CONSUMER.CREATE.ARTIFACTS.dest_evil");
    await refused(jsm.streams.purge(EVENTS_STREAM), "$JS.API.STREAM.PURGE.ARTIFACTS");
    await refused(js.consumers.get(EVENTS_STREAM, "dest_s3_minio"), "$JS.API.CONSUMER.INFO.ARTIFACTS.dest_s3_minio");
    const kv = await new Kvm(trainer).open(LEDGER_BUCKET);
    await refused(kv.put("ev.s3_minio.x", "{}"), "$KV.artifact_ledger.ev.s3_minio.x");
    // The destinations every publisher believes in: only the topology (admin) writes them.
    await refused(kv.put("topology", "forged"), "$KV.artifact_ledger.topology");
    await refused(kv.put("filter.s3_minio", "artifacts.v1.events.none.*.*.*"), "$KV.artifact_ledger.filter.s3_minio");
    // Pausing a destination is for operators (and the gateway, for admin tokens).
    await refused(pauseDestination(kv, "s3_minio", { by: "trainer" }), "$KV.artifact_ledger.pause.s3_minio");
    await refused(kv.delete("pause.s3_minio"), "$KV.artifact_ledger.pause.s3_minio");
    await refused(kv.destroy(), "$JS.API.STREAM.DELETE.KV_artifact_ledger");
    await refused(jsm.streams.purge(blobStream("demo")), "$JS.API.STREAM.PURGE.OBJ_artifact_blobs_demo");
  });

  it("an uploader cannot take another destination's work, dead-letter for it or change topology", async () => {
    const js = jetstream(uploader);
    const jsm = await jetstreamManager(uploader);
    const foreignApi = "$JS.API.CONSUMER.INFO.ARTIFACTS.dest_sftp_archive";
    await refused(js.consumers.get(EVENTS_STREAM, "dest_sftp_archive"), foreignApi);
    // Even bound without asking the server, pulling is refused and nothing is delivered.
    await jetstream(admin).publish("artifacts.v1.events.vision.r1.fit.k1", "{}");
    const adminJsm = await jetstreamManager(admin);
    const foreign = js.consumers.getConsumerFromInfo(await adminJsm.consumers.info(EVENTS_STREAM, "dest_sftp_archive"));
    const batch = await foreign.fetch({ max_messages: 1, expires: 1000 });
    const delivered: string[] = [];
    let drained: Promise<unknown> | undefined;
    // The pull request goes out once the batch is iterated.
    const err = await nextPermissionError(uploader, () => {
      drained = (async () => {
        for await (const m of batch) delivered.push(m.subject);
      })().catch(() => undefined); // ends with "heartbeats missed": nothing ever answers the pull
    });
    expect(err.subject).toBe("$JS.API.CONSUMER.MSG.NEXT.ARTIFACTS.dest_sftp_archive");
    batch.stop();
    await drained;
    expect(delivered).toEqual([]);
    const after = await adminJsm.consumers.info(EVENTS_STREAM, "dest_sftp_archive");
    expect([after.num_pending, after.num_ack_pending, after.delivered.stream_seq]).toEqual([1, 0, 0]);

    await refused(js.publish("artifacts.v1.dlq.sftp_archive", "{}"), "artifacts.v1.dlq.sftp_archive");
    await refused(js.publish("artifacts.v1.events.demo.r1.fit.k1", "{}"), "artifacts.v1.events.demo.r1");
    await refused(jsm.streams.delete(EVENTS_STREAM), "$JS.API.STREAM.DELETE.ARTIFACTS");
    await refused(
      jsm.consumers.delete(EVENTS_STREAM, "dest_sftp_archive"),
      "$JS.API.CONSUMER.DELETE.ARTIFACTS.dest_sftp_archive",
    );
    await refused(
      jsm.consumers.update(EVENTS_STREAM, "dest_s3_minio", { max_deliver: 1000 }),
      "$JS.API.CONSUMER.CREATE.ARTIFACTS.dest_s3_minio",
    );
    const kv = await new Kvm(uploader).open(LEDGER_BUCKET);
    await refused(kv.destroy(), "$JS.API.STREAM.DELETE.KV_artifact_ledger");
    // Only its own destination's ledger entries and key leases; never the whole blob bucket.
    await refused(kv.put("ev.sftp_archive.demo.r1.abcdefgh", "{}"), "$KV.artifact_ledger.ev.sftp_archive");
    await refused(kv.put("topology", "forged"), "$KV.artifact_ledger.topology");
    await refused(kv.put("filter.s3_minio", "artifacts.v1.events.none.*.*.*"), "$KV.artifact_ledger.filter.s3_minio");
    await refused(kv.put("head.sftp_archive.abcdefgh", "{}"), "$KV.artifact_ledger.head.sftp_archive");
    // Its own destination's resume records, not another's.
    await kv.put("resume.s3_minio.abcdefgh", "{}");
    await kv.delete("resume.s3_minio.abcdefgh");
    await refused(kv.put("resume.sftp_archive.abcdefgh", "{}"), "$KV.artifact_ledger.resume.sftp_archive");
    // It reads its destination's pause (a message get) and obeys it; it cannot pause or resume,
    // not even its own destination.
    await pauseDestination(await new Kvm(admin).open(LEDGER_BUCKET), "s3_minio", { by: "admin", reason: "test" });
    expect(await readDestinationPause(kv, "s3_minio")).toMatchObject({ paused: true, by: "admin", reason: "test" });
    await refused(resumeDestination(kv, "s3_minio"), "$KV.artifact_ledger.pause.s3_minio");
    await refused(pauseDestination(kv, "sftp_archive", { by: "uploader" }), "$KV.artifact_ledger.pause.sftp_archive");
    await resumeDestination(await new Kvm(admin).open(LEDGER_BUCKET), "s3_minio");
    await refused(jsm.streams.purge(blobStream("demo")), "$JS.API.STREAM.PURGE.OBJ_artifact_blobs_demo");
    await refused(jsm.streams.delete(blobStream("demo")), "$JS.API.STREAM.DELETE.OBJ_artifact_blobs_demo");
    await refused(js.publish("artifacts.v1.replay.s3_minio.demo.r1.fit.k1", "{}"), "artifacts.v1.replay.s3_minio");
  });

  it("the gateway publishes and reads for any project, but cannot consume, write leases or change topology", async () => {
    const gateway = await as("gateway", PASSWORDS.NATS_GATEWAY_PASSWORD);
    try {
      const js = jetstream(gateway);
      const jsm = await jetstreamManager(gateway);
      // It scopes projects itself, by token: the bus lets it publish for any.
      expect((await js.publish("artifacts.v1.events.vision.r9.fit.k1", "{}")).seq).toBeGreaterThan(0);
      expect((await jsm.consumers.info(EVENTS_STREAM, "dest_s3_minio")).name).toBe("dest_s3_minio");
      const kv = await new Kvm(gateway).open(LEDGER_BUCKET);
      await kv.put("idx.abcdefgh", "{}");
      // Its publisher reads the topology records by direct get, as a trainer's does: the names each destination refuses.
      await jsm.direct
        .getMessage(`KV_${LEDGER_BUCKET}`, { last_by_subj: `$KV.${LEDGER_BUCKET}.rules.s3_minio` })
        .catch((err) => {
          expect(String(err)).not.toMatch(/permission/i);
        });
      // It pauses and resumes destinations for admin tokens.
      await pauseDestination(kv, "sftp_archive", { by: "gateway", reason: "maintenance" });
      expect(await readDestinationPause(kv, "sftp_archive")).toMatchObject({ by: "gateway", reason: "maintenance" });
      expect(await resumeDestination(kv, "sftp_archive")).toMatchObject({ by: "gateway" });
      expect(await readDestinationPause(kv, "sftp_archive")).toBeUndefined();
      await refused(kv.put("head.s3_minio.abcdefgh", "{}"), "$KV.artifact_ledger.head.s3_minio");
      await refused(kv.put("replica.s3_minio.x", "{}"), "$KV.artifact_ledger.replica.s3_minio");
      await refused(js.publish("artifacts.v1.dlq.s3_minio", "{}"), "artifacts.v1.dlq.s3_minio");
      await refused(jsm.streams.delete(EVENTS_STREAM), "$JS.API.STREAM.DELETE.ARTIFACTS");
      await refused(jsm.streams.purge(blobStream("demo")), "$JS.API.STREAM.PURGE.OBJ_artifact_blobs_demo");
      await refused(
        jsm.consumers.delete(EVENTS_STREAM, "dest_s3_minio"),
        "$JS.API.CONSUMER.DELETE.ARTIFACTS.dest_s3_minio",
      );
      const mine = js.consumers.getConsumerFromInfo(await jsm.consumers.info(EVENTS_STREAM, "dest_s3_minio"));
      const batch = await mine.fetch({ max_messages: 1, expires: 1000 });
      const err = await nextPermissionError(gateway, () => {
        void (async () => {
          for await (const _ of batch) break;
        })().catch(() => undefined);
      });
      expect(err.subject).toBe("$JS.API.CONSUMER.MSG.NEXT.ARTIFACTS.dest_s3_minio");
      batch.stop();
    } finally {
      await gateway.close();
    }
  });
});
