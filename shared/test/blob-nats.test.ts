import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { NatsServer } from "@artifact-bus/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { type ObjectStore, Objm } from "@nats-io/obj";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobStoreNotConfiguredError, FsBlobStore, openBlobStores } from "../src/blob/mod.ts";
import { NatsBlobStore } from "../src/blob/nats-store.ts";
import { BlobBucketMissingError } from "../src/blob/staging-errors.ts";
import { BlobExistsError, type BlobLocation, BlobMissingError } from "../src/blob/store.ts";
import { parseConfig } from "../src/config/config.ts";
import { InvalidArtifactError } from "../src/contract/names.ts";
import type { BlobRef } from "../src/contract/schema.ts";
import { ensureTopology } from "../src/nats/topology.ts";
import { blobBucket, blobStream } from "../src/nats/topology-names.ts";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
let seq = 0;
const newId = () => `evt-${process.pid}-${++seq}-${randomBytes(3).toString("hex")}`;

let server: NatsServer;
let nc: NatsConnection;
let bucket: ObjectStore;
let pBucket: ObjectStore;
const { stream } = parseConfig({});
let store: NatsBlobStore;
let work: string;

beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connect({ servers: server.url });
  await ensureTopology(nc, { stream, destinations: [], blobProjects: ["proj", "p"] });
  // The object store client reads the same buckets: blobs are plain objects.
  bucket = await new Objm(nc).open(blobBucket("proj"));
  pBucket = await new Objm(nc).open(blobBucket("p"));
  store = await NatsBlobStore.open(nc);
  work = mkdtempSync(join(tmpdir(), "artifact-bus-blob-nats-"));
});

afterAll(async () => {
  await store?.close();
  await nc?.close();
  await server?.dispose();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function trainerFile(bytes: number): Promise<{ path: string; data: Buffer }> {
  const path = join(work, `ckpt-${++seq}.pt`);
  const data = randomBytes(bytes);
  await writeFile(path, data);
  return { path, data };
}

const natsRef = (ref: string): BlobRef => ({ store: "nats", ref, size: 0, sha256: "0".repeat(64) });

describe("NatsBlobStore", () => {
  it("round-trips a ~5 MiB file; the trainer rewriting its file afterwards changes nothing", async () => {
    const { path, data } = await trainerFile(5 * 1024 * 1024 + 12345);
    const id = newId();
    const ref = await store.stage({ path, project: "proj", run: "run-1", id });
    expect(ref).toEqual({ store: "nats", ref: `proj/run-1/${id}`, size: data.length, sha256: sha256(data) });
    await writeFile(path, randomBytes(data.length));
    await unlink(path);
    const read = await buffer(await store.open(ref));
    expect(read.length).toBe(data.length);
    expect(sha256(read)).toBe(sha256(data));
    expect(read.equals(data)).toBe(true);
    expect((await store.read(ref)).equals(data)).toBe(true);
    const reader = await store.openReader(ref);
    const parts = [Buffer.alloc(3 * 1024 * 1024), Buffer.alloc(3 * 1024 * 1024)];
    const got = [await reader.fill(parts[0]!), await reader.fill(parts[1]!)];
    await reader.close();
    expect(got).toEqual([parts[0]!.length, data.length - parts[0]!.length]);
    expect(Buffer.concat([parts[0]!, parts[1]!.subarray(0, got[1])]).equals(data)).toBe(true);
    // read() stops one byte past what the event says.
    expect((await store.read({ ...ref, size: 1000 })).equals(data.subarray(0, 1001))).toBe(true);
    // The object store client reads the same object, checking its digest.
    expect((await bucket.info(ref.ref))?.size).toBe(data.length);
    expect(Buffer.from((await bucket.getBlob(ref.ref))!).equals(data)).toBe(true);
    expect(store.localPath(ref)).toBeUndefined();
  });

  it("reports staging progress as chunks are sent, rising to the file's size", async () => {
    const { path, data } = await trainerFile(5 * 1024 * 1024 + 7);
    const reports: number[] = [];
    await store.stage({ path, project: "proj", run: "run-1", id: newId(), onProgress: (n) => reports.push(n) });
    expect(reports.length).toBeGreaterThan(1);
    expect(reports).toEqual([...reports].sort((a, b) => a - b));
    expect(reports.at(-1)).toBe(data.length);
  });

  it("round-trips an empty file", async () => {
    const { path } = await trainerFile(0);
    const ref = await store.stage({ path, project: "proj", run: "run-1", id: newId() });
    expect(ref.size).toBe(0);
    expect(ref.sha256).toBe(sha256(new Uint8Array(0)));
    expect((await buffer(await store.open(ref))).length).toBe(0);
    expect((await store.read(ref)).length).toBe(0);
  });

  it("never replaces a staged blob: staging its id again fails with BlobExistsError and the bytes stay", async () => {
    const first = await trainerFile(3000);
    const id = newId();
    const ref = await store.stage({ path: first.path, project: "proj", run: "again", id });
    const other = await trainerFile(2000);
    const err = await store.stage({ path: other.path, project: "proj", run: "again", id }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlobExistsError);
    expect(await buffer(await store.open(ref))).toEqual(first.data);
    // Removed (released or swept), the id may be staged anew: nothing refers to it any more.
    await store.remove(ref);
    const again = await store.stage({ path: other.path, project: "proj", run: "again", id });
    expect(await buffer(await store.open(again))).toEqual(other.data);
  });

  it("a missing blob is a BlobMissingError naming it", async () => {
    const ref = natsRef(`proj/run-2/${newId()}`);
    for (const err of [
      await store.open(ref).catch((e: unknown) => e),
      await store.read(ref).catch((e: unknown) => e),
    ]) {
      expect(err).toBeInstanceOf(BlobMissingError);
      expect((err as Error).message).toContain(ref.ref);
    }
  });

  it("remove deletes the object's bytes without a stream purge, and is idempotent", async () => {
    const { path } = await trainerFile(300 * 1024);
    const ref = await store.stage({ path, project: "proj", run: "run-3", id: newId() });
    expect(await bucket.info(ref.ref)).not.toBeNull();
    const jsm = await jetstreamManager(nc);
    const before = (await jsm.streams.info(blobStream("proj"))).state.bytes;
    await store.remove(ref);
    await expect(store.open(ref)).rejects.toBeInstanceOf(BlobMissingError);
    expect((await bucket.info(ref.ref))?.deleted).toBe(true); // a marker, gone with the bucket's max age
    // Its chunks were rolled up into one empty message: the bytes are gone from the stream.
    expect((await jsm.streams.info(blobStream("proj"))).state.bytes).toBeLessThan(before - 290 * 1024);
    await store.remove(ref);
    await store.remove(natsRef(`proj/run-3/${newId()}`));
  });

  it("sweep removes only objects older than the cutoff", async () => {
    const names = async () => (await pBucket.list()).map((i) => i.name);
    for (const name of await names()) await pBucket.delete(name); // start from an empty bucket
    const a = await store.stage({ ...(await trainerFile(10)), project: "p", run: "r", id: newId() });
    const mtimeA = Date.parse((await pBucket.info(a.ref))!.mtime);
    // mtimes are wall-clock ms: wait for the clock to pass A's so B's is strictly later.
    while (Date.now() <= mtimeA) await new Promise((r) => setImmediate(r));
    const b = await store.stage({ ...(await trainerFile(10)), project: "p", run: "r", id: newId() });
    const mtimeB = Date.parse((await pBucket.info(b.ref))!.mtime);
    expect(mtimeB).toBeGreaterThan(mtimeA);

    // An hour after B was staged, "older than an hour" puts the cutoff at mtimeB: A goes, B stays.
    // The sweep goes through every project's bucket, so the other tests' blobs go too.
    const later = await NatsBlobStore.open(nc, { now: () => mtimeB + 3600_000 });
    expect(await later.sweep(3600_000)).toBeGreaterThanOrEqual(1);
    expect(await names()).toEqual([b.ref]);
    await expect(store.open(a)).rejects.toBeInstanceOf(BlobMissingError);
    expect(await buffer(await store.open(b))).toHaveLength(10);
    expect(await store.sweep(3600_000)).toBe(0);
    expect(await later.sweep(0)).toBeGreaterThanOrEqual(1);
    expect(await names()).toEqual([]);
    expect((await bucket.list()).map((i) => i.name)).toEqual([]);
  });

  it("sweep keeps an old object its guard holds (a dead event's, for its replay)", async () => {
    const held = await store.stage({ ...(await trainerFile(10)), project: "p", run: "g", id: newId() });
    const free = await store.stage({ ...(await trainerFile(10)), project: "p", run: "g", id: newId() });
    const later = await NatsBlobStore.open(nc, { now: () => Date.now() + 2 * 3600_000 });
    const mine = new Set([held.ref, free.ref]);
    // Other tests' objects are not this test's to judge: the guard keeps them.
    const keep = async (blob: BlobLocation) => !mine.has(blob.ref) || blob.ref === held.ref;
    expect(await later.sweep(3600_000, keep)).toBe(1);
    expect(await store.exists(held)).toBe(true);
    expect(await store.exists(free)).toBe(false);
    expect(await buffer(await store.open(held))).toHaveLength(10);
  });

  it("rejects refs that are not blob keys, and refs of the other store", async () => {
    for (const ref of ["../x", "p/r", "p/r/../x-12345678", "/abs/olute/path1234"]) {
      await expect(store.open(natsRef(ref)), ref).rejects.toBeInstanceOf(InvalidArtifactError);
      expect(() => store.localPath(natsRef(ref))).toThrow(InvalidArtifactError);
    }
    await expect(store.open({ ...natsRef("p/r/abcdefgh"), store: "fs" })).rejects.toThrow(
      /cannot be read from the nats/,
    );
    const { path } = await trainerFile(10);
    await expect(store.stage({ path, project: "bad/project", run: "r", id: newId() })).rejects.toBeInstanceOf(
      InvalidArtifactError,
    );
    await expect(store.stage({ path: join(work, "nope"), project: "p", run: "r", id: newId() })).rejects.toMatchObject({
      code: "ENOENT",
    });
  });

  it("a project without a bucket: staging says who creates it; reading finds no blob", async () => {
    const { path } = await trainerFile(10);
    const err = await store.stage({ path, project: "newcomer", run: "r", id: newId() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlobBucketMissingError);
    expect((err as Error).message).toMatch(/artifact_blobs_newcomer.*staging\.projects.*artifact-bus topology/);
    await expect(store.open(natsRef(`newcomer/r/${newId()}`))).rejects.toBeInstanceOf(BlobMissingError);
    await store.remove(natsRef(`newcomer/r/${newId()}`)); // nothing to remove is not an error
    // The operator's step, then the same call stages.
    await ensureTopology(nc, { stream, destinations: [], blobProjects: ["proj", "p", "newcomer"] });
    const ref = await store.stage({ path, project: "newcomer", run: "r", id: newId() });
    expect((await store.read(ref)).length).toBe(10);
  });

  it("openBlobStores opens both stores", async () => {
    const both = await openBlobStores({ dir: join(work, "staging"), store: "fs" }, nc);
    expect(both.kinds.sort()).toEqual(["fs", "nats"]);
    expect(both.get("fs")).toBeInstanceOf(FsBlobStore);
    expect(both.get("nats")).toBeInstanceOf(NatsBlobStore);
    const fsOnly = await openBlobStores({ dir: join(work, "staging"), store: "fs" });
    expect(() => fsOnly.get("nats")).toThrow(BlobStoreNotConfiguredError);
  });
});
