/**
 * stageStream on the fs store with `releaseChunks` (an HTTP body's chunks): the bytes land whole
 * with their sha256, each chunk that is a whole buffer of its own is emptied once written, views
 * into a larger buffer are left alone, and failures still leave nothing staged. Without the
 * option a caller's chunks are never touched.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FsBlobStore } from "../src/blob/fs-store.ts";
import { BlobDigestMismatchError } from "../src/blob/store.ts";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
let seq = 0;
const newId = () => `evt-${process.pid}-${++seq}-${randomBytes(3).toString("hex")}`;

/** `bytes` as chunks of 64 KiB and less, each copied into a buffer of its own (as the HTTP parser hands them over). */
function ownChunks(bytes: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += 65536) {
    const part = bytes.subarray(offset, offset + 65536);
    const own = Buffer.alloc(part.length); // Buffer.from may take a slice of a shared pool
    part.copy(own);
    chunks.push(own);
  }
  return chunks;
}

let root: string;
let store: FsBlobStore;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "artifact-bus-stage-release-"));
  store = new FsBlobStore(join(root, "staging"));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("stageStream with releaseChunks (fs)", () => {
  it("stages the bytes whole with their sha256, and empties each chunk once written", async () => {
    const bytes = randomBytes(5 * 1024 * 1024 + 4321);
    const chunks = ownChunks(bytes);
    const ref = await store.stageStream(Readable.from(chunks), {
      project: "p",
      run: "r",
      id: newId(),
      expectedSha256: sha256(bytes),
      releaseChunks: true,
    });
    expect(ref.size).toBe(bytes.length);
    expect(ref.sha256).toBe(sha256(bytes));
    expect((await buffer(await store.open(ref))).equals(bytes)).toBe(true);
    expect(chunks.every((c) => c.buffer.byteLength === 0)).toBe(true);
  });

  it("leaves chunks that are views into a larger buffer as they are", async () => {
    const bytes = randomBytes(1024 * 1024);
    const original = Buffer.from(bytes);
    const views = [bytes.subarray(0, 300_000), bytes.subarray(300_000)];
    const ref = await store.stageStream(Readable.from(views), {
      project: "p",
      run: "r",
      id: newId(),
      releaseChunks: true,
    });
    expect(ref.sha256).toBe(sha256(bytes));
    expect(bytes.equals(original)).toBe(true);
  });

  it("leaves nothing staged when the digest differs", async () => {
    const bytes = randomBytes(2 * 1024 * 1024);
    const id = newId();
    const wrong = sha256(Buffer.from("something else"));
    const err = await store
      .stageStream(Readable.from(ownChunks(bytes)), {
        project: "p",
        run: "r",
        id,
        expectedSha256: wrong,
        releaseChunks: true,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlobDigestMismatchError);
    expect((err as BlobDigestMismatchError).actual).toBe(sha256(bytes));
    expect(await readdir(join(root, "staging/p/r"))).not.toContainEqual(expect.stringContaining(id));
  });

  it("without the option, never touches the caller's chunks", async () => {
    const bytes = randomBytes(1024 * 1024);
    const chunks = ownChunks(bytes);
    const ref = await store.stageStream(Readable.from(chunks), { project: "p", run: "r", id: newId() });
    expect(ref.sha256).toBe(sha256(bytes));
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
  });
});
