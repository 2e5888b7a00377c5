/**
 * logFile's contract: it resolves once the bytes are staged, before they are hashed or
 * published; `durable` resolves at the PubAck; validation errors reject logFile itself; a
 * failing `durable` is never an unhandled rejection and flush names it; versions of one name go
 * out in call order. Real nats-server, the dir uploader in its own process.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { inspect } from "node:util";
import {
  InvalidArtifactError,
  LogFailedError,
  type LogFileHandle,
  NoDestinationError,
  PublishUnconfirmedError,
} from "@artifact-bus/shared";
import { eventually, sha256, tempDirs, writeLargeFile, writeRandomFile } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BusStack } from "./harness/bus-stack.ts";

const DIR_MAIN = resolve(import.meta.dirname, "../services/dir-uploader/src/main.ts");
const temp = tempDirs();
let stack: BusStack;
let root: string;
let seq = 0;
const unique = (p: string) => `${p}-${process.pid}-${++seq}`;

beforeAll(async () => {
  root = temp.make("artifact-bus-logfile-dest-");
  stack = await BusStack.start({
    destination: { name: "dir:logfile", filter: { project: "logfile", run: "*", level: "*" }, options: { root } },
    main: DIR_MAIN,
  });
  await stack.startUploader();
});
afterAll(async () => {
  await stack?.dispose();
});

/** Whether `p` is still pending once everything already queued has run. */
async function pending(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await Promise.resolve();
  return !settled;
}

/** Files staged for a run of project `logfile`. */
const stagedFiles = (run: string) => {
  const dir = join(stack.config.staging.dir!, "logfile", run);
  return existsSync(dir) ? readdirSync(dir) : [];
};

describe("logFile", () => {
  for (const mode of ["link", "move", "copy"] as const) {
    it(`${mode}: resolves before the event is published; durable brings sha256 and sequence; the bytes land`, async () => {
      const t = await stack.trainer();
      const run = unique(mode);
      const path = join(stack.dir, `${run}.bin`);
      const hash = await writeLargeFile(path, 24 << 20);
      const handle = await t.publisher.logFile({ project: "logfile", run, name: "ckpt/model.pt", path, mode });
      // Hashing and publishing need the event loop to turn: logFile did not wait for them.
      expect(await pending(handle.durable)).toBe(true);
      expect(handle).toMatchObject({ project: "logfile", run, name: "ckpt/model.pt", destinations: ["dir:logfile"] });
      expect(handle.how).toBe(mode);
      const logged = await handle.durable;
      expect(logged).toMatchObject({ id: handle.id, blob: { store: "fs", size: 24 << 20, sha256: hash } });
      expect(logged.streamSeq).toBeGreaterThan(0);
      await t.publisher.flush({ timeoutMs: 30_000 });
      expect(sha256(readFileSync(join(root, "logfile", run, "ckpt/model.pt")))).toBe(hash);
      await t.close();
    });
  }

  it("copy: the trainer rewriting its file in place right after logFile returns changes nothing logged", async () => {
    const t = await stack.trainer();
    const run = unique("rewrite");
    const path = join(stack.dir, `${run}.bin`);
    const hash = await writeLargeFile(path, 8 << 20);
    const handle = await t.publisher.logFile({ project: "logfile", run, name: "a.bin", path, mode: "copy" });
    writeFileSync(path, Buffer.alloc(8 << 20, 1)); // same size, other bytes, same inode
    expect((await handle.durable).blob.sha256).toBe(hash);
    await t.publisher.flush({ timeoutMs: 30_000 });
    expect(sha256(readFileSync(join(root, "logfile", run, "a.bin")))).toBe(hash);
    await t.close();
  });

  it("bad input rejects logFile itself, naming the problem, and stages nothing", async () => {
    const t = await stack.trainer();
    const path = join(stack.dir, "valid.bin");
    writeRandomFile(path, 100_000);
    const ok = { project: "logfile", run: unique("bad"), name: "a.bin", path };
    await expect(t.publisher.logFile({ ...ok, name: "../escape.bin" })).rejects.toMatchObject({
      name: "InvalidArtifactError",
      field: "name",
    });
    await expect(t.publisher.logFile({ ...ok, path: join(stack.dir, "missing.bin") })).rejects.toMatchObject({
      code: "ENOENT",
    });
    await expect(t.publisher.logFile({ ...ok, project: "nobody-takes-this" })).rejects.toBeInstanceOf(
      NoDestinationError,
    );
    const tooMuch = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"]));
    await expect(t.publisher.logFile({ ...ok, metadata: tooMuch })).rejects.toBeInstanceOf(InvalidArtifactError);
    await expect(t.publisher.logFile({ ...ok, mode: "hardlink" as never })).rejects.toMatchObject({ field: "mode" });
    expect(stagedFiles(ok.run)).toEqual([]);
    await t.close();
  });

  it("a durable that fails is no unhandled rejection when ignored; flush names the artifact", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    const t = await stack.trainer({ publishTimeoutMs: 500 });
    try {
      const run = unique("unconfirmed");
      const path = join(stack.dir, `${run}.bin`);
      writeRandomFile(path, 200_000);
      await (await t.publisher.logFile({ project: "logfile", run, name: "warm-up.bin", path })).durable;
      await stack.nats.pause(); // no PubAck comes: the publish times out
      let handle: LogFileHandle;
      try {
        handle = await t.publisher.logFile({ project: "logfile", run, name: "lost/ckpt.pt", path });
        // Watched without a handler of our own: inspect() reads a promise's state.
        await eventually(() => (inspect(handle.durable).includes("<rejected>") ? true : undefined), 20_000, "failed");
        await new Promise((r) => setTimeout(r, 50)); // unhandled rejections are reported on a later turn
      } finally {
        stack.nats.resume();
      }
      expect(unhandled).toEqual([]);
      await expect(handle.durable).rejects.toBeInstanceOf(PublishUnconfirmedError);
      const err = await t.publisher.flush({ timeoutMs: 30_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LogFailedError);
      expect((err as LogFailedError).message).toContain("lost/ckpt.pt (PublishUnconfirmedError");
      expect((err as LogFailedError).failures.map((f) => f.id)).toEqual([handle.id]);
      // Reported once: the next flush has nothing left to wait for.
      await t.publisher.flush({ timeoutMs: 5_000 });
    } finally {
      process.off("unhandledRejection", onUnhandled);
      await t.close();
    }
  });

  it("versions of one name are published in call order, even when the earlier one hashes longer", async () => {
    const t = await stack.trainer();
    const run = unique("order");
    const big = join(stack.dir, `${run}-big.bin`);
    await writeLargeFile(big, 64 << 20);
    const small = join(stack.dir, `${run}-small.bin`);
    const smallData = writeRandomFile(small, 1000);
    const first = await t.publisher.logFile({ project: "logfile", run, name: "latest.pt", path: big, mode: "link" });
    const second = await t.publisher.logFile({ project: "logfile", run, name: "latest.pt", path: small });
    const [a, b] = await Promise.all([first.durable, second.durable]);
    expect(a.streamSeq).toBeLessThan(b.streamSeq);
    await t.publisher.flush({ timeoutMs: 60_000 });
    expect(readFileSync(join(root, "logfile", run, "latest.pt"))).toEqual(smallData);
    await t.close();
  });
});
