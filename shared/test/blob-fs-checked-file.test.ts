/**
 * Staging a file its opener checked (StageRequest.sameFile, what the gateway passes): when the
 * path leads to another file by the time the store acts (a directory swapped for a symlink after
 * the check), nothing of that other file is copied, linked, moved or made read-only.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FsBlobStore } from "../src/blob/fs-store.ts";
import { BlobSourceChangedError } from "../src/blob/store.ts";

let root: string;
let store: FsBlobStore;
let n = 0;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "artifact-bus-checked-file-"));
  store = new FsBlobStore(join(root, "staging"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function file(size: number): { path: string; bytes: Buffer } {
  const path = join(root, `f-${++n}`);
  const bytes = randomBytes(size);
  writeFileSync(path, bytes, { mode: 0o640 });
  return { path, bytes };
}

/** What the gateway passes for a file it opened: its descriptor's path and its identity. */
async function checkedFile(path: string) {
  const handle = await open(path, "r");
  const st = await handle.stat({ bigint: true });
  return { handle, sameFile: { readPath: `/proc/self/fd/${handle.fd}`, dev: st.dev, ino: st.ino } };
}

describe.skipIf(process.platform !== "linux")("staging a checked file", () => {
  for (const mode of ["link", "move"] as const) {
    it(`${mode}: another file at the path is put back untouched, and nothing is staged`, async () => {
      const checked = file(200_000);
      const other = file(200_000);
      const { handle, sameFile } = await checkedFile(checked.path);
      try {
        const id = `checked-${mode}-${++n}`;
        await expect(store.stage({ path: other.path, project: "a", run: "r", id, mode, sameFile })).rejects.toThrow(
          BlobSourceChangedError,
        );
        expect(existsSync(other.path)).toBe(true);
        expect(statSync(other.path).mode & 0o777).toBe(0o640);
        expect(statSync(other.path).nlink).toBe(1);
        expect(existsSync(join(root, "staging", "a", "r", id))).toBe(false);
      } finally {
        await handle.close();
      }
    });
  }

  for (const size of [1_000, 200_000]) {
    it(`copy (${size} bytes): the checked file's bytes are staged, never the other file's`, async () => {
      const checked = file(size);
      const other = file(size);
      const { handle, sameFile } = await checkedFile(checked.path);
      try {
        const id = `checked-copy-${++n}`;
        await store.stage({ path: other.path, project: "a", run: "r", id, mode: "copy", sameFile });
        expect(readFileSync(join(root, "staging", "a", "r", id))).toEqual(checked.bytes);
        expect(statSync(other.path).mode & 0o777).toBe(0o640);
      } finally {
        await handle.close();
      }
    });
  }
});
