/** The shared destination contract, for the dir destination on this machine's disk. */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { DestinationError, silentLogger } from "@artifact-bus/shared";
import { describeDestinationContract, memoryArtifact, testContext } from "@artifact-bus/shared/testing";
import { describe, expect, it } from "vitest";
import { DirDestination } from "../src/dir-destination.ts";

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
    const root = join(mkdtempSync(join(tmpdir(), "artifact-bus-dir-")), "gone");
    const d = new DirDestination({ name: "dir:gone", options: { root }, log: silentLogger });
    await expect(d.probe()).rejects.toBeInstanceOf(DestinationError);
    await expect(d.upload(memoryArtifact(Buffer.from("x"), { name: "a/b.txt" }), testContext())).rejects.toBeInstanceOf(
      DestinationError,
    );
    if (process.getuid?.() !== 0) {
      const locked = mkdtempSync(join(tmpdir(), "artifact-bus-dir-"));
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
});
