/**
 * A staged fs blob is never replaced: its event may be published with its sha256. Staging the same
 * event id again, from a file in any mode or from a stream of any size, fails with BlobExistsError,
 * keeps the first bytes, and leaves the second source as it was (a moved file stays where it is).
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FsBlobStore } from "../src/blob/fs-store.ts";
import { BlobExistsError } from "../src/blob/store.ts";

let root: string;
let store: FsBlobStore;
let n = 0;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "artifact-bus-never-replaced-"));
  store = new FsBlobStore(join(root, "staging"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function file(size: number): { path: string; bytes: Buffer } {
  const path = join(root, `f-${++n}`);
  const bytes = randomBytes(size);
  writeFileSync(path, bytes, { mode: 0o640 });
  return { path, bytes };
}

const runDir = () => join(root, "staging", "p", "r");
const blobPath = (id: string) => join(runDir(), id);

describe("staging an event id twice", () => {
  for (const size of [1_000, 200_000]) {
    for (const mode of ["copy", "link", "move"] as const) {
      it(`a file (${size} bytes, ${mode}) leaves the first blob and the second file as they were`, async () => {
        const id = `twice-${mode}-${size}`;
        const first = file(size);
        await store.stage({ path: first.path, project: "p", run: "r", id, mode: "copy" });
        const second = file(size);
        await expect(store.stage({ path: second.path, project: "p", run: "r", id, mode })).rejects.toThrow(
          BlobExistsError,
        );
        expect(readFileSync(blobPath(id))).toEqual(first.bytes);
        expect(readFileSync(second.path)).toEqual(second.bytes);
        expect(statSync(second.path).mode & 0o777).toBe(0o640);
        expect(readdirSync(runDir()).filter((f) => f.startsWith(".tmp-"))).toEqual([]);
      });
    }

    it(`a stream (${size} bytes) is refused with its sha256, and the first blob kept`, async () => {
      const id = `twice-stream-${size}`;
      const first = randomBytes(size);
      await store.stageStream(Readable.from([first]), { project: "p", run: "r", id, sizeHint: size });
      const err = await store
        .stageStream(Readable.from([randomBytes(size)]), { project: "p", run: "r", id })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BlobExistsError);
      expect((err as BlobExistsError).sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(readFileSync(blobPath(id))).toEqual(first);
      expect(existsSync(blobPath(id))).toBe(true);
      expect(readdirSync(runDir()).filter((f) => f.startsWith(".tmp-"))).toEqual([]);
    });
  }
});
