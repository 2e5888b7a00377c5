/**
 * Copy mode on a real copy-on-write filesystem (an XFS image on a loop device): the staged blob
 * is a clone, made without reading the bytes, and as independent of the trainer's file as a copy.
 * Off it (ext4 here, or across filesystems) the same request is a copy.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mountXfs, sha256, type XfsMount } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FsBlobStore } from "../src/blob/fs-store.ts";

let xfs: XfsMount;
let ext: string;
let seq = 0;
const newId = () => `evt-${process.pid}-${++seq}-${randomBytes(3).toString("hex")}`;

beforeAll(() => {
  xfs = mountXfs(400 << 20);
  mkdirSync(join(xfs.dir, "trainer"));
  ext = mkdtempSync(join(tmpdir(), "artifact-bus-clone-"));
});
afterAll(() => {
  xfs?.dispose();
  rmSync(ext, { recursive: true, force: true });
});

describe("copy mode on XFS", () => {
  it("clones the file; rewriting the trainer's file in place afterwards leaves the blob as it was", async () => {
    const store = new FsBlobStore(join(xfs.dir, "staging"));
    const path = join(xfs.dir, "trainer", "ckpt.pt");
    const data = randomBytes(16 << 20);
    writeFileSync(path, data);
    const placed = await store.place({ path, project: "p", run: "r", id: newId(), mode: "copy" });
    expect(placed.how).toBe("clone");
    // Same inode, new bytes at the start: a clone shares extents until one side writes.
    const file = await open(path, "r+");
    await file.write(Buffer.alloc(1 << 20, 7), 0, 1 << 20, 0);
    await file.close();
    const blob = await placed.blob;
    expect(blob).toMatchObject({ size: data.length, sha256: sha256(data) });
    expect(sha256(readFileSync(store.localPath(blob)))).toBe(sha256(data));
  });

  it("a source on another filesystem is copied, not cloned", async () => {
    const store = new FsBlobStore(join(xfs.dir, "staging"));
    const path = join(ext, "other-fs.pt");
    const data = randomBytes(2 << 20);
    writeFileSync(path, data);
    const placed = await store.place({ path, project: "p", run: "r", id: newId(), mode: "copy" });
    expect(placed.how).toBe("copy");
    expect(await placed.blob).toMatchObject({ size: data.length, sha256: sha256(data) });
  });

  it("on a filesystem without copy-on-write the same request is a copy", async () => {
    const store = new FsBlobStore(join(ext, "staging"));
    const path = join(ext, "plain.pt");
    const data = randomBytes(2 << 20);
    writeFileSync(path, data);
    const placed = await store.place({ path, project: "p", run: "r", id: newId(), mode: "copy" });
    expect(placed.how).toBe("copy");
    expect(await placed.blob).toMatchObject({ size: data.length, sha256: sha256(data) });
  });
});
