import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, unlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SMALL_FILE_BYTES } from "../src/blob/bounded-read.ts";
import { FsBlobStore, TEMP_PREFIX } from "../src/blob/fs-store.ts";
import { BlobStoreNotConfiguredError, BlobStores, openBlobStores } from "../src/blob/mod.ts";
import { type BlobLocation, BlobMissingError } from "../src/blob/store.ts";
import { InvalidArtifactError } from "../src/contract/names.ts";
import type { BlobRef } from "../src/contract/schema.ts";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
let seq = 0;
const newId = () => `evt-${process.pid}-${++seq}-${randomBytes(3).toString("hex")}`;

let root: string;
let staging: string;
let work: string;
let store: FsBlobStore;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "artifact-bus-blob-fs-"));
  staging = join(root, "staging");
  work = join(root, "trainer");
  store = new FsBlobStore(staging);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Writes a trainer file of random bytes (more than one 1 MiB read chunk by default). */
async function trainerFile(bytes = 3 * 1024 * 1024 + 17, dir = work): Promise<{ path: string; data: Buffer }> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `ckpt-${++seq}.pt`);
  const data = randomBytes(bytes);
  await writeFile(path, data);
  return { path, data };
}

const fsRef = (ref: string): BlobRef => ({ store: "fs", ref, size: 0, sha256: "0".repeat(64) });

describe("FsBlobStore.stage", () => {
  it.each(["copy", "link", "move"] as const)(
    "%s: reports staging progress as the staged bytes are hashed, rising to the file's size",
    async (mode) => {
      const { path, data } = await trainerFile(9 * 1024 * 1024 + 5);
      const reports: number[] = [];
      await store.stage({ path, project: "proj", run: "run-1", id: newId(), mode, onProgress: (n) => reports.push(n) });
      expect(reports.length).toBeGreaterThan(1);
      expect(reports).toEqual([...reports].sort((a, b) => a - b));
      expect(reports.at(-1)).toBe(data.length);
    },
  );

  const sizes = {
    large: undefined,
    "4 KiB": 4096,
    empty: 0,
    "the largest small": SMALL_FILE_BYTES,
    "the smallest large": SMALL_FILE_BYTES + 1,
  };
  for (const mode of ["copy", "link", "move"] as const) {
    it.each(Object.entries(sizes))(
      `${mode}, %s file: stages the exact bytes, read-only, with the right sha256 and size`,
      async (_size, bytes) => {
        const { path, data } = await trainerFile(bytes);
        const id = newId();
        const ref = await store.stage({ path, project: "proj", run: "run-1", id, mode });
        expect(ref).toEqual({ store: "fs", ref: `proj/run-1/${id}`, size: data.length, sha256: sha256(data) });
        const blobPath = store.localPath(ref);
        expect(blobPath).toBe(join(staging, "proj", "run-1", id));
        const staged = await readFile(blobPath);
        expect(sha256(staged)).toBe(sha256(data));
        expect(staged.equals(data)).toBe(true);
        expect((await stat(blobPath)).mode & 0o777).toBe(0o444);
        expect((await buffer(await store.open(ref))).equals(staged)).toBe(true);
        expect((await store.read(ref)).equals(staged)).toBe(true);
        expect(existsSync(path)).toBe(mode !== "move");
        // No temp file is left beside the blob.
        expect((await readdir(join(staging, "proj", "run-1"))).filter((n) => n.startsWith(TEMP_PREFIX))).toEqual([]);
      },
    );
  }

  it("link: a small file is copied, not linked: as cheap, and the trainer's file stays writable", async () => {
    const { path } = await trainerFile(4096);
    const ref = await store.stage({ path, project: "proj", run: "run-1", id: newId(), mode: "link" });
    expect((await stat(store.localPath(ref))).ino).not.toBe((await stat(path)).ino);
    expect((await stat(path)).mode & 0o222).not.toBe(0);
  });

  it("copy: the trainer overwriting or deleting its file right after stage() leaves the blob alone", async () => {
    const a = await trainerFile();
    const refA = await store.stage({ path: a.path, project: "proj", run: "run-2", id: newId(), mode: "copy" });
    await writeFile(a.path, randomBytes(a.data.length)); // rewrite in place, same size
    expect(sha256(await readFile(store.localPath(refA)))).toBe(refA.sha256);
    expect(refA.sha256).toBe(sha256(a.data));

    const b = await trainerFile();
    const refB = await store.stage({ path: b.path, project: "proj", run: "run-2", id: newId() });
    await unlink(b.path);
    expect((await readFile(store.localPath(refB))).equals(b.data)).toBe(true);
  });

  it("move: a new file the trainer writes at the old path leaves the blob alone", async () => {
    const { path, data } = await trainerFile();
    const ref = await store.stage({ path, project: "proj", run: "run-3", id: newId(), mode: "move" });
    await writeFile(path, "new contents");
    expect((await readFile(store.localPath(ref))).equals(data)).toBe(true);
  });

  it("link: same inode, survives the trainer deleting or renaming over its file", async () => {
    const { path, data } = await trainerFile();
    const ref = await store.stage({ path, project: "proj", run: "run-4", id: newId(), mode: "link" });
    expect((await stat(store.localPath(ref))).ino).toBe((await stat(path)).ino);
    // torch.save-style replacement: write a new file, rename it over the old path.
    await writeFile(`${path}.new`, randomBytes(1000));
    await rename(`${path}.new`, path);
    expect((await readFile(store.localPath(ref))).equals(data)).toBe(true);
    await unlink(path);
    expect((await readFile(store.localPath(ref))).equals(data)).toBe(true);
  });

  it("stamps the staging time as mtime, even for an old file linked or moved in", async () => {
    for (const mode of ["link", "move", "copy"] as const) {
      const { path } = await trainerFile(10);
      const old = new Date("2020-01-01T00:00:00Z");
      await utimes(path, old, old);
      const before = Date.now() - 1000;
      const ref = await store.stage({ path, project: "proj", run: "run-5", id: newId(), mode });
      expect((await stat(store.localPath(ref))).mtimeMs).toBeGreaterThanOrEqual(before);
    }
  });

  const otherFs = "/dev/shm";
  const crossDevice = existsSync(otherFs) && statSync(otherFs).dev !== statSync(tmpdir()).dev;
  it.skipIf(!crossDevice)("link and move fall back to a copy across filesystems, with a note", async () => {
    const notes: string[] = [];
    const logged = new FsBlobStore(staging, {
      logger: pino({ level: "warn" }, { write: (line: string) => notes.push(line) }),
    });
    const dir = mkdtempSync(join(otherFs, "artifact-bus-blob-"));
    try {
      const l = await trainerFile(2 * 1024 * 1024, dir);
      const refL = await logged.stage({ path: l.path, project: "proj", run: "run-6", id: newId(), mode: "link" });
      expect((await readFile(logged.localPath(refL))).equals(l.data)).toBe(true);
      expect(existsSync(l.path)).toBe(true);
      await writeFile(l.path, "rewritten in place"); // a copy, not the same inode
      expect(sha256(await readFile(logged.localPath(refL)))).toBe(sha256(l.data));

      const m = await trainerFile(2 * 1024 * 1024, dir);
      const refM = await logged.stage({ path: m.path, project: "proj", run: "run-6", id: newId(), mode: "move" });
      expect((await readFile(logged.localPath(refM))).equals(m.data)).toBe(true);
      expect(existsSync(m.path)).toBe(false);
      expect(notes.join("\n")).toMatch(/hard link impossible, copying instead/);
      expect(notes.join("\n")).toMatch(/moving by copy and unlink/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rejects bad keys and a missing source without leaving files behind", async () => {
    const { path } = await trainerFile(10);
    const bad = [
      { project: "../etc", run: "r", id: newId() },
      { project: "p", run: "a/b", id: newId() },
      { project: "p", run: "r", id: "../../x-123456" },
      { project: "p", run: "r", id: "short" },
    ];
    for (const key of bad) await expect(store.stage({ path, ...key })).rejects.toBeInstanceOf(InvalidArtifactError);
    await expect(
      store.stage({ path, project: "proj", run: "run-7", id: newId(), mode: "bogus" as never }),
    ).rejects.toThrow(/not one of copy, link, move/);
    for (const mode of ["copy", "link", "move"] as const) {
      await expect(
        store.stage({ path: join(work, "does-not-exist"), project: "proj", run: "run-7", id: newId(), mode }),
      ).rejects.toMatchObject({ code: "ENOENT" });
    }
    expect(existsSync(join(staging, "p"))).toBe(false);
    expect(await readdir(join(staging, "proj", "run-7")).catch(() => [])).toEqual([]);
  });
});

describe("FsBlobStore.open, localPath, remove", () => {
  it("open: a missing blob is a BlobMissingError naming the ref", async () => {
    const ref = fsRef(`proj/run-8/${newId()}`);
    const err = await store.open(ref).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlobMissingError);
    expect((err as Error).message).toContain(ref.ref);
  });

  it("read: at most one byte more than the event says, so a longer blob shows; a missing one is BlobMissingError", async () => {
    for (const bytes of [100, SMALL_FILE_BYTES + 100]) {
      const { path, data } = await trainerFile(bytes);
      const ref = await store.stage({ path, project: "proj", run: "run-8", id: newId() });
      const claimed = { ...ref, size: bytes - 50 };
      expect((await store.read(claimed)).equals(data.subarray(0, bytes - 49))).toBe(true);
      expect((await store.read({ ...ref, size: bytes + 50 })).equals(data)).toBe(true);
    }
    const missing = await store.read(fsRef(`proj/run-8/${newId()}`)).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(BlobMissingError);
  });

  it("localPath rejects refs that are not blob keys or escape the dir", () => {
    for (const ref of ["../x", "proj/run/../../../etc-passwd", "/etc/passwd", "a/b", "a/b/c/d-12345678", "p/r/.."]) {
      expect(() => store.localPath(fsRef(ref)), ref).toThrow(InvalidArtifactError);
    }
    expect(() => store.localPath({ ...fsRef("p/r/abcdefgh"), store: "nats" })).toThrow(/cannot be read from the fs/);
    expect(store.localPath(fsRef("p/r/abcdefgh"))).toBe(join(staging, "p", "r", "abcdefgh"));
  });

  it("remove deletes the blob and is idempotent; the sweep prunes dirs left empty, keeping dirs in use", async () => {
    const a = await store.stage({ ...(await trainerFile(10)), project: "gone", run: "r1", id: newId() });
    const b = await store.stage({ ...(await trainerFile(10)), project: "gone", run: "r2", id: newId() });
    await store.remove(a);
    expect(existsSync(store.localPath(a))).toBe(false);
    await expect(store.open(a)).rejects.toBeInstanceOf(BlobMissingError);
    await store.remove(a);
    await store.sweep(24 * 3600_000);
    expect(existsSync(join(staging, "gone", "r1"))).toBe(false);
    expect(existsSync(store.localPath(b))).toBe(true); // r2 still holds b
    await store.remove(b);
    await store.sweep(24 * 3600_000);
    expect(existsSync(join(staging, "gone"))).toBe(false);
    // Staging again after the dirs were pruned recreates them.
    const c = await store.stage({ ...(await trainerFile(10)), project: "gone", run: "r1", id: newId() });
    expect(existsSync(store.localPath(c))).toBe(true);
  });
});

describe("FsBlobStore.sweep", () => {
  it("removes only blobs staged longer ago than the cutoff, and no young temp file", async () => {
    const sweepStore = new FsBlobStore(join(root, "sweep"));
    const old = await sweepStore.stage({ ...(await trainerFile(10)), project: "p", run: "r", id: newId() });
    const young = await sweepStore.stage({ ...(await trainerFile(10)), project: "p", run: "r", id: newId() });
    const oldOther = await sweepStore.stage({ ...(await trainerFile(10)), project: "q", run: "r", id: newId() });
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(sweepStore.localPath(old), twoHoursAgo, twoHoursAgo);
    await utimes(sweepStore.localPath(oldOther), twoHoursAgo, twoHoursAgo);
    // A staging in progress: a linked temp file carries the trainer's old mtime but a fresh ctime.
    const temp = join(sweepStore.dir, "p", "r", `${TEMP_PREFIX}inprogress`);
    await writeFile(temp, "x");
    await utimes(temp, twoHoursAgo, twoHoursAgo);

    expect(await sweepStore.sweep(3600_000)).toBe(2);
    expect(existsSync(sweepStore.localPath(old))).toBe(false);
    expect(existsSync(sweepStore.localPath(oldOther))).toBe(false);
    expect(existsSync(join(sweepStore.dir, "q"))).toBe(false);
    expect(existsSync(sweepStore.localPath(young))).toBe(true);
    expect(existsSync(temp)).toBe(true);
    expect(await sweepStore.sweep(3600_000)).toBe(0);
    await rm(temp);
  });

  it("keeps an old blob its guard holds (a dead event's, for its replay), and never on a guard's error", async () => {
    const store = new FsBlobStore(join(root, "guarded"));
    const held = await store.stage({ ...(await trainerFile(10)), project: "p", run: "r", id: newId() });
    const free = await store.stage({ ...(await trainerFile(10)), project: "p", run: "r", id: newId() });
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    for (const b of [held, free]) await utimes(store.localPath(b), twoHoursAgo, twoHoursAgo);
    const asked: string[] = [];
    const keep = async (blob: BlobLocation) => asked.push(blob.ref) > 0 && blob.ref === held.ref;

    await expect(store.sweep(3600_000, () => Promise.reject(new Error("ledger away")))).rejects.toThrow(/ledger away/);
    expect(await store.exists(held)).toBe(true);
    expect(await store.exists(free)).toBe(true);
    expect(await store.sweep(3600_000, keep)).toBe(1);
    expect(asked.sort()).toEqual([held.ref, free.ref].sort());
    expect(await store.exists(held)).toBe(true);
    expect(await store.exists(free)).toBe(false);
  });

  it("sweep of a staging dir that does not exist yet removes nothing", async () => {
    expect(await new FsBlobStore(join(root, "never-created")).sweep(0)).toBe(0);
  });
});

describe("BlobStores", () => {
  it("returns configured stores and explains a missing one", async () => {
    const stores = await openBlobStores({ dir: staging, store: "fs" });
    expect(stores.get("fs")).toBeInstanceOf(FsBlobStore);
    expect(stores.kinds).toEqual(["fs"]);
    expect(() => stores.get("nats")).toThrow(BlobStoreNotConfiguredError);
    expect(() => stores.get("nats")).toThrow(/"nats" is not configured here \(configured: fs\)/);
    expect(() => new BlobStores([]).get("fs")).toThrow(/configured: none.*staging\.dir/);
    expect(() => new BlobStores([store, store])).toThrow(/two blob stores of kind fs/);
    await stores.close();
  });
});
