/** The shared destination contract, for the dir destination on this machine's disk. */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { DestinationError, PermanentError, silentLogger } from "@artifact-bus/shared";
import { describeDestinationContract, memoryArtifact, tempDirs, testContext } from "@artifact-bus/testkit";
import { describe, expect, it } from "vitest";
import { DirDestination } from "../src/dir-destination.ts";

const temp = tempDirs();

function all(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)));
}

describeDestinationContract("dir", async () => {
  const root = mkdtempSync(join(tmpdir(), "artifact-bus-dir-"));
  const destination = new DirDestination({ name: "dir:contract", options: { root, fsync: true }, log: silentLogger });
  return {
    destination,
    read(event) {
      try {
        return readFileSync(destination.pathOf(event));
      } catch {
        return undefined;
      }
    },
    list: () => all(root),
    refuses: { longSegment: /segment "s{20}[^"]*" is 299 bytes; file names there are at most 255 bytes/ },
    expectedLocation: (event) => `file://${encodeURI(destination.pathOf(event))}`,
    // A mount gone away: the root is not there.
    breakDestination: async () => renameSync(root, `${root}.away`),
    healDestination: async () => renameSync(`${root}.away`, root),
    async dispose() {
      rmSync(root, { recursive: true, force: true });
    },
  };
});

describe("dir destination", () => {
  it("a root that is missing or not writable pauses the destination (DestinationError)", async () => {
    const root = join(temp.make("artifact-bus-dir-"), "gone");
    const d = new DirDestination({ name: "dir:gone", options: { root }, log: silentLogger });
    await expect(d.probe()).rejects.toBeInstanceOf(DestinationError);
    await expect(d.upload(memoryArtifact(Buffer.from("x"), { name: "a/b.txt" }), testContext())).rejects.toBeInstanceOf(
      DestinationError,
    );
    if (process.getuid?.() !== 0) {
      const locked = temp.make("artifact-bus-dir-");
      chmodSync(locked, 0o555);
      const l = new DirDestination({ name: "dir:locked", options: { root: locked }, log: silentLogger });
      await expect(l.probe()).rejects.toBeInstanceOf(DestinationError);
    }
  });

  it("refuses a hidden segment unless allowed, and relative or escaping roots at start", () => {
    const d = new DirDestination({ name: "dir:x", options: { root: "/srv/archive" }, log: silentLogger });
    expect(() => d.orderKey(memoryArtifact(Buffer.from("x"), { name: ".ssh/authorized_keys" }).event)).toThrow(
      /allowDotSegments/,
    );
    expect(() => new DirDestination({ name: "dir:x", options: { root: "archive" } })).toThrow(/options\.root/);
    expect(() => new DirDestination({ name: "dir:x", options: { root: "/srv/../etc" } })).toThrow(/options\.root/);
  });

  it("refuses a path past PATH_MAX before anything is written, naming the lengths", async () => {
    // A root of 3,200 bytes that is not there: any write would fail otherwise (DestinationError).
    const root = `/${`${"d".repeat(199)}/`.repeat(16).slice(0, -1)}`;
    const d = new DirDestination({ name: "dir:deep", options: { root }, log: silentLogger });
    const name = `${`${"n".repeat(199)}/`.repeat(5)}x.pt`;
    const artifact = memoryArtifact(Buffer.from("x"), { name });
    const err = await d.upload(artifact, testContext()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toMatch(
      /^dir:deep: path is 4,216 bytes \(name 1,004 \+ root "\/d{39}…" 3,200 \+ 12 from template "\{project\}\/\{run\}\/\{name\}"\), 4,2\d\d with the temporary name written beside it; paths are at most 4,095 bytes$/,
    );
    expect(() => d.orderKey(artifact.event)).toThrow((err as Error).message);
  });

  it("removes temp files a killed uploader left, once they are older than staleTempMaxAgeMs, when it writes there again", async () => {
    const root = temp.make("artifact-bus-dir-");
    const dir = join(root, "p", "r", "ckpt");
    mkdirSync(dir, { recursive: true });
    const stale = join(dir, ".other.pt.abcdefgh12.partial");
    const fresh = join(dir, ".other.pt.ijklmnop34.partial");
    const unrelated = join(dir, ".notes.partial");
    for (const f of [stale, fresh, unrelated]) writeFileSync(f, "left behind");
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(stale, twoHoursAgo, twoHoursAgo);
    utimesSync(unrelated, twoHoursAgo, twoHoursAgo);
    const d = new DirDestination({ name: "dir:sweep", options: { root }, log: silentLogger });
    const a = memoryArtifact(Buffer.from("new"), { project: "p", run: "r", name: "ckpt/a.pt" });
    await d.upload(a, testContext());
    expect(readFileSync(join(dir, "a.pt"), "utf8")).toBe("new");
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(fresh)).toBe(true); // may be a live upload of another replica
    expect(existsSync(unrelated)).toBe(true); // not one of ours
  });

  it("makes a directory again that was removed after it first wrote there", async () => {
    const root = temp.make("artifact-bus-dir-");
    const d = new DirDestination({ name: "dir:again", options: { root }, log: silentLogger });
    const first = memoryArtifact(Buffer.from("one"), { project: "p", run: "r", name: "x/one.bin" });
    await d.upload(first, testContext());
    rmSync(join(root, "p"), { recursive: true });
    const second = memoryArtifact(Buffer.alloc(2 << 20, 7), { project: "p", run: "r", name: "x/two.bin" });
    const third = memoryArtifact(Buffer.from("three"), { project: "p", run: "r", name: "x/three.bin" });
    await d.upload(second, testContext());
    rmSync(join(root, "p"), { recursive: true });
    await d.upload(third, testContext());
    expect(all(root).sort()).toEqual(["p/r/x/three.bin"]);
    rmSync(join(root, "p"), { recursive: true });
    await d.upload(second, testContext()); // the streamed path (above 1 MiB) too
    expect(readFileSync(join(root, "p/r/x/two.bin")).equals(Buffer.alloc(2 << 20, 7))).toBe(true);
  });
});
