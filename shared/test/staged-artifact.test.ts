import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testEvent } from "@artifact-bus/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { SMALL_FILE_BYTES } from "../src/blob/bounded-read.ts";
import { FsBlobStore } from "../src/blob/fs-store.ts";
import { BlobStores } from "../src/blob/mod.ts";
import type { Artifact } from "../src/destination/destination.ts";
import { PermanentError } from "../src/destination/errors.ts";
import { stagedArtifact } from "../src/destination/staged-artifact.ts";

const root = mkdtempSync(join(tmpdir(), "artifact-bus-staged-"));
const store = new FsBlobStore(join(root, "staging"));
const blobs = new BlobStores([store]);
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** Stages `bytes` and returns the runtime's Artifact for it, plus the staged file's path. */
async function staged(bytes: Buffer) {
  const src = join(root, `src-${++n}`);
  writeFileSync(src, bytes);
  const id = `staged-${n}-${randomBytes(4).toString("hex")}`;
  const blob = await store.stage({ path: src, project: "p", run: "r", id });
  const event = testEvent({ id, project: "p", run: "r", size: blob.size, sha256: blob.sha256 });
  event.blob = blob;
  // Blobs from 1 MiB are hashed on the worker thread, whatever the machine's core count.
  return { artifact: stagedArtifact(blobs, event, n, 1 << 20), path: store.localPath(blob) };
}

function tamper(path: string, bytes: Buffer): void {
  chmodSync(path, 0o644);
  writeFileSync(path, bytes);
}

const signal = new AbortController().signal;

/** Everything openReader() gives, read through a buffer smaller than the blob as the S3 parts are. */
async function throughReader(artifact: Artifact): Promise<Buffer> {
  const reader = await artifact.openReader(signal);
  const out: Buffer[] = [];
  try {
    const buf = Buffer.alloc(SMALL_FILE_BYTES / 2);
    for (;;) {
      const n = await reader.fill(buf);
      out.push(Buffer.from(buf.subarray(0, n)));
      if (n < buf.length) return Buffer.concat(out);
    }
  } finally {
    await reader.close();
  }
}

describe("stagedArtifact: the bytes an adapter gets are the bytes staged, or a PermanentError", () => {
  for (const [kind, size] of [
    ["small", 4096],
    ["large", SMALL_FILE_BYTES * 3],
    ["large, a multiple of the read buffer", SMALL_FILE_BYTES * 2],
    // Past 1 MiB the check hashes on a worker thread while the reader's buffer is reused.
    ["large, hashed off the event loop", 3 * 1024 * 1024 + 7],
  ] as const) {
    it(`${kind} blob: read() and openReader() hand over the staged bytes`, async () => {
      const bytes = randomBytes(size);
      const { artifact } = await staged(bytes);
      expect((await artifact.read(signal)).equals(bytes)).toBe(true);
      expect((await throughReader(artifact)).equals(bytes)).toBe(true);
    });

    it(`${kind} blob changed after staging (same size, longer, shorter): every path fails permanently`, async () => {
      for (const [change, expected] of [
        [(b: Buffer) => Buffer.from(b.map((x) => x ^ 1)), /sha256 \w+ differs from the event's/],
        [
          (b: Buffer) => Buffer.concat([b, Buffer.from("x")]),
          /has more than the \d+ bytes the event says|has \d+ bytes, the event says/,
        ],
        [(b: Buffer) => b.subarray(1), /has \d+ bytes, the event says/],
      ] as const) {
        const bytes = randomBytes(size);
        const { artifact, path } = await staged(bytes);
        tamper(path, change(bytes));
        const viaRead = await artifact.read(signal).catch((e: unknown) => e);
        expect(viaRead).toBeInstanceOf(PermanentError);
        expect((viaRead as Error).message).toMatch(expected);
        const viaReader = await throughReader(artifact).catch((e: unknown) => e);
        expect(viaReader).toBeInstanceOf(PermanentError);
        expect((viaReader as Error).message).toMatch(expected);
      }
    });
  }

  it("an adapter that reads exactly the event's size, and never asks for more, still gets the check", async () => {
    for (const size of [4096, SMALL_FILE_BYTES * 3, 3 * 1024 * 1024]) {
      const bytes = randomBytes(size);
      const { artifact, path } = await staged(bytes);
      tamper(path, Buffer.from(bytes.map((x) => x ^ 1)));
      const reader = await artifact.openReader(signal);
      try {
        // One buffer of exactly the size: the fill reaches the end without a short read.
        await expect(reader.fill(Buffer.alloc(size))).rejects.toThrow(/sha256 \w+ differs from the event's/);
      } finally {
        await reader.close();
      }
    }
  });

  it("a blob removed before the upload is a PermanentError saying it is missing", async () => {
    const { artifact, path } = await staged(randomBytes(100));
    rmSync(path);
    await expect(artifact.read(signal)).rejects.toThrow(PermanentError);
    await expect(artifact.read(signal)).rejects.toThrow(/blob missing/);
    await expect(artifact.openReader(signal)).rejects.toThrow(/blob missing/);
  });
});
