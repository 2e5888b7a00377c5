/**
 * With `fsync: true` an upload counts only once it survives a crash of the host: the file, its
 * directory's entry for it, and the entry of every directory on the way down from the root,
 * which `mkdir -p` may just have made. A host crash cannot be staged in a test, so the test
 * records which directories the destination fsynced (through its `syncDir` seam, which still
 * syncs for real) and checks that set against the directories the upload depends on.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "@artifact-bus/shared";
import { memoryArtifact, testContext } from "@artifact-bus/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { DirDestination, syncDirectory } from "../src/dir-destination.ts";

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** A dir destination on a fresh root, and the directories it fsyncs, in order. */
function destination(fsync: boolean) {
  const root = mkdtempSync(join(tmpdir(), "artifact-bus-dir-fsync-"));
  roots.push(root);
  const synced: string[] = [];
  const d = new DirDestination({
    name: "dir:fsync",
    options: { root, fsync },
    log: silentLogger,
    syncDir: async (dir) => {
      synced.push(dir);
      await syncDirectory(dir);
    },
  });
  return { root, d, synced };
}

const artifact = (name: string, bytes = Buffer.from(name)) => memoryArtifact(bytes, { project: "p", run: "r", name });

describe("dir destination with fsync", () => {
  it("syncs every directory a new run's upload created, and the root that holds the topmost", async () => {
    const { root, d, synced } = destination(true);
    await d.upload(artifact("ckpt/ep1/model.pt"), testContext());
    expect(readFileSync(join(root, "p/r/ckpt/ep1/model.pt"), "utf8")).toBe("ckpt/ep1/model.pt");
    expect(new Set(synced)).toEqual(
      new Set([root, join(root, "p"), join(root, "p/r"), join(root, "p/r/ckpt"), join(root, "p/r/ckpt/ep1")]),
    );
  });

  it("a directory already written to syncs only itself for the next file", async () => {
    const { root, d, synced } = destination(true);
    await d.upload(artifact("ckpt/a.pt"), testContext());
    synced.length = 0;
    await d.upload(artifact("ckpt/b.pt", Buffer.alloc(2 << 20, 1)), testContext()); // the streamed path
    expect(synced).toEqual([join(root, "p/r/ckpt")]);
  });

  it("syncs directories a killed uploader made but may never have synced", async () => {
    const { root, d, synced } = destination(true);
    mkdirSync(join(root, "p/r/logs"), { recursive: true }); // made by another process, which then died
    await d.upload(artifact("logs/train.log"), testContext());
    expect(new Set(synced)).toEqual(new Set([root, join(root, "p"), join(root, "p/r"), join(root, "p/r/logs")]));
  });

  it("a directory removed after the first write is made again, and synced with its parents", async () => {
    const { root, d, synced } = destination(true);
    await d.upload(artifact("x/one.bin"), testContext());
    rmSync(join(root, "p"), { recursive: true });
    synced.length = 0;
    await d.upload(artifact("x/two.bin"), testContext());
    expect(new Set(synced)).toEqual(new Set([root, join(root, "p"), join(root, "p/r"), join(root, "p/r/x")]));
  });

  it("without fsync nothing is synced", async () => {
    const { d, synced } = destination(false);
    await d.upload(artifact("ckpt/ep1/model.pt"), testContext());
    expect(synced).toEqual([]);
  });
});
