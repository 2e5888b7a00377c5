/**
 * stageStream on both blob stores: bytes that arrive as a stream land whole under the blob's
 * name with their sha256, or (a source that fails midway, a digest that differs) leave nothing
 * staged; the fs store's sweep removes temp files of streams that died without cleaning up.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { readdir, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { NatsServer } from "@artifact-bus/testkit";
import { Objm, StorageType } from "@nats-io/obj";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FsBlobStore, TEMP_PREFIX } from "../src/blob/fs-store.ts";
import { STREAM_TEMP_SUFFIX } from "../src/blob/fs-stream.ts";
import { NatsBlobStore } from "../src/blob/nats-store.ts";
import { BlobDigestMismatchError, BlobExistsError, BlobMissingError, type BlobStore } from "../src/blob/store.ts";
import { blobBucket } from "../src/nats/topology-names.ts";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
let seq = 0;
const newId = () => `evt-${process.pid}-${++seq}-${randomBytes(3).toString("hex")}`;

/** A stream of `bytes` in 64 KiB chunks that fails after `failAfter` bytes, if given. */
function chunked(bytes: Buffer, failAfter?: number): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (failAfter !== undefined && offset >= failAfter) return this.destroy(new Error("client went away"));
      if (offset >= bytes.length) return this.push(null);
      this.push(bytes.subarray(offset, offset + 65536));
      offset += 65536;
    },
  });
}

let server: NatsServer;
let nc: NatsConnection;
let root: string;
const stores: Record<string, BlobStore> = {};

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "artifact-bus-stage-stream-"));
  server = await NatsServer.start();
  nc = await connect({ servers: server.url });
  for (const project of ["p", "q"])
    await new Objm(nc).create(blobBucket(project), { storage: StorageType.File, replicas: 1 });
  stores.fs = new FsBlobStore(join(root, "staging"));
  stores.nats = await NatsBlobStore.open(nc);
});

afterAll(async () => {
  await nc?.close();
  await server?.dispose();
  rmSync(root, { recursive: true, force: true });
});

describe.each(["fs", "nats"])("stageStream on the %s store", (kind) => {
  const store = () => stores[kind] as BlobStore;

  it("stages the streamed bytes whole, with their sha256 and size, checked against an expected digest", async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const id = newId();
    const ref = await store().stageStream(chunked(bytes), {
      project: "p",
      run: "r",
      id,
      expectedSha256: sha256(bytes),
    });
    expect(ref).toEqual({ store: kind, ref: `p/r/${id}`, size: bytes.length, sha256: sha256(bytes) });
    expect((await buffer(await store().open(ref))).equals(bytes)).toBe(true);
  });

  it("stages a small body with its announced size (the fs store's synchronous path) and checks its digest", async () => {
    const bytes = randomBytes(4096);
    const ref = await store().stageStream(chunked(bytes), { project: "p", run: "r", id: newId(), sizeHint: 4096 });
    expect(ref.sha256).toBe(sha256(bytes));
    expect((await buffer(await store().open(ref))).equals(bytes)).toBe(true);
    const wrong = sha256(Buffer.from("x"));
    await expect(
      store().stageStream(chunked(bytes), {
        project: "p",
        run: "r",
        id: newId(),
        sizeHint: 4096,
        expectedSha256: wrong,
      }),
    ).rejects.toBeInstanceOf(BlobDigestMismatchError);
  });

  it("stages an empty body", async () => {
    const ref = await store().stageStream(Readable.from([]), { project: "p", run: "r", id: newId() });
    expect(ref.size).toBe(0);
    expect(ref.sha256).toBe(sha256(Buffer.alloc(0)));
  });

  it("leaves nothing staged when the digest differs", async () => {
    const bytes = randomBytes(200_000);
    const id = newId();
    const wrong = sha256(Buffer.from("something else"));
    const err = await store()
      .stageStream(chunked(bytes), { project: "p", run: "r", id, expectedSha256: wrong })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlobDigestMismatchError);
    expect((err as BlobDigestMismatchError).actual).toBe(sha256(bytes));
    const ref = { store: kind as "fs", ref: `p/r/${id}`, size: bytes.length, sha256: sha256(bytes) };
    await expect(store().open(ref)).rejects.toBeInstanceOf(BlobMissingError);
    if (kind === "fs") expect(await readdir(join(root, "staging/p/r"))).not.toContainEqual(expect.stringContaining(id));
  });

  it("leaves nothing staged when the source fails midway", async () => {
    const bytes = randomBytes(1024 * 1024);
    const id = newId();
    await expect(store().stageStream(chunked(bytes, 512 * 1024), { project: "p", run: "r", id })).rejects.toThrow(
      /client went away/,
    );
    const ref = { store: kind as "fs", ref: `p/r/${id}`, size: bytes.length, sha256: sha256(bytes) };
    await expect(store().open(ref)).rejects.toBeInstanceOf(BlobMissingError);
    if (kind === "fs") expect(await readdir(join(root, "staging/p/r"))).not.toContainEqual(expect.stringContaining(id));
  });
});

describe("stageStream's small-body path (fs)", () => {
  it("stages into a run dir it creates, read-only, and refuses a second body under the same id, leaving no temp file", async () => {
    const store = stores.fs as FsBlobStore;
    const run = `small-${randomBytes(3).toString("hex")}`;
    const id = newId();
    const bytes = randomBytes(4096);
    const ref = await store.stageStream(chunked(bytes), { project: "p", run, id, sizeHint: 4096 });
    const path = join(root, "staging/p", run, id);
    expect((await stat(path)).mode & 0o777).toBe(0o444);
    const again = store.stageStream(chunked(randomBytes(4096)), { project: "p", run, id, sizeHint: 4096 });
    await expect(again).rejects.toBeInstanceOf(BlobExistsError);
    expect((await buffer(await store.open(ref))).equals(bytes)).toBe(true);
    expect(await readdir(join(root, "staging/p", run))).toEqual([id]);
  });
});

describe("sweepAbandonedStreams (fs)", () => {
  it("removes streamed temp files nothing wrote to for the idle time, and nothing else", async () => {
    const store = stores.fs as FsBlobStore;
    const dir = join(root, "staging/q/r");
    const kept = await store.stageStream(chunked(randomBytes(1000)), { project: "q", run: "r", id: newId() });
    const stale = join(dir, `${TEMP_PREFIX}${newId()}-abcdef${STREAM_TEMP_SUFFIX}`);
    const fresh = join(dir, `${TEMP_PREFIX}${newId()}-012345${STREAM_TEMP_SUFFIX}`);
    const linked = join(dir, `${TEMP_PREFIX}${newId()}-999999`); // a trainer's staging in progress
    for (const f of [stale, fresh, linked]) await writeFile(f, "x");
    const old = new Date(Date.now() - 120_000);
    await utimes(stale, old, old);
    await utimes(linked, old, old);
    expect(await store.sweepAbandonedStreams(60_000)).toBe(1);
    await expect(stat(stale)).rejects.toThrow(/ENOENT/);
    for (const f of [fresh, linked, store.localPath(kept)]) await stat(f);
  });
});
