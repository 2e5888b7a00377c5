/**
 * W&B faults on real processes: throttling, a revoked key, the API down, uploaders killed mid-upload
 * and between commit and ack. Nothing accepted is lost, nothing is dead-lettered for the
 * destination's trouble, and no version is created twice.
 */
import { join } from "node:path";
import { eventually, sha256, writeLargeFile, writeRandomFile } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QUICK_BREAKER } from "./harness/bus-stack.ts";
import { WandbStack } from "./harness/wandb-stack.ts";

let stack: WandbStack;
let n = 0;
const unique = (p: string) => `${p}-${process.pid}-${++n}`;

beforeAll(async () => {
  stack = await WandbStack.start({
    destination: { breaker: QUICK_BREAKER },
    wandbOptions: { retries: 1 },
  });
});
afterAll(async () => {
  stack?.double.resume();
  await stack?.dispose();
});

/** Logs `data` (or a fresh random file) as `name` in project `project`. */
async function log(project: string, name: string, size = 2000) {
  const t = await stack.bus.trainer();
  const path = join(stack.bus.dir, unique("file"));
  const data = writeRandomFile(path, size);
  const logged = await t.publisher.logFile({ project, run: "r1", name, path });
  return { t, logged, data };
}

describe("wandb faults", () => {
  it("a burst of 429 with Retry-After: each retry no sooner than asked, then uploaded, nothing dead", async () => {
    const uploader = await stack.bus.startUploader();
    await stack.double.fault({
      target: "graphql",
      operation: "CreateArtifact",
      times: 3,
      status: 429,
      retryAfter: "1",
    });
    const since = Date.now();
    const { t, logged, data } = await log("throttled", `${unique("a")}.pt`);
    await t.publisher.flush({ timeoutMs: 60_000 });
    const creates = (await stack.double.requests()).filter((r) => r.operation === "CreateArtifact" && r.at >= since);
    expect(creates.map((r) => r.status)).toEqual([429, 429, 429, 200]);
    for (let i = 1; i < creates.length; i++) expect(creates[i]!.at - creates[i - 1]!.at).toBeGreaterThanOrEqual(1000);
    const v = await stack.version("throttled", logged.name);
    expect(sha256(await stack.bytesOf(v!))).toBe(sha256(data));
    expect(await stack.bus.deadLetters()).toEqual([]);
    await t.close();
    await uploader.kill("SIGTERM");
  });

  it("a revoked key: the breaker opens, nothing is dead-lettered; with the key valid again everything uploads", async () => {
    const uploader = await stack.bus.startUploader();
    const key = stack.double.apiKey; // the uploader's
    await stack.double.setApiKeys(["a-key-the-uploader-does-not-have"]);
    const names = [0, 1, 2].map((i) => `${unique("k")}-${i}.pt`);
    const logs: Awaited<ReturnType<typeof log>>[] = [];
    for (const name of names) logs.push(await log("revoked", name));
    await uploader.waitForLog((l) => l.msg === "breaker open: pausing pulls", 20_000);
    const pending = await eventually(
      async () => {
        const entries = await Promise.all(logs.map((l) => stack.bus.ledger(l.logged)));
        return entries.find((e) => e?.state === "pending" && /HTTP 401/.test(e.error ?? ""));
      },
      20_000,
      "a pending entry naming the refused key",
    );
    expect(pending.attempts).toBe(0);
    const probes = () => uploader.lines.filter((l) => l.msg === "probe failed: breaker stays open").length;
    await uploader.waitForLog(() => probes() >= 2, 20_000);
    expect(await stack.bus.deadLetters()).toEqual([]);
    expect(JSON.stringify(uploader.lines)).not.toContain(key);

    await stack.double.setApiKeys([key]);
    for (const l of logs) await l.t.publisher.flush({ timeoutMs: 60_000 });
    for (const l of logs) {
      const v = await stack.version("revoked", l.logged.name);
      expect(sha256(await stack.bytesOf(v!))).toBe(sha256(l.data));
      await l.t.close();
    }
    expect(await stack.bus.deadLetters()).toEqual([]);
    await uploader.kill("SIGTERM");
  });

  it("the API down for a while: the breaker opens, and every upload completes once it is back", async () => {
    const uploader = await stack.bus.startUploader();
    await stack.double.stop();
    const logs: Awaited<ReturnType<typeof log>>[] = [];
    try {
      for (let i = 0; i < 3; i++) logs.push(await log("down", `${unique("d")}.pt`));
      await uploader.waitForLog((l) => l.msg === "breaker open: pausing pulls", 30_000);
    } finally {
      await stack.double.restart();
    }
    for (const l of logs) await l.t.publisher.flush({ timeoutMs: 60_000 });
    for (const l of logs) {
      expect((await stack.versions("down", l.logged.name)).map((v) => v.version)).toEqual(["v0"]);
      await l.t.close();
    }
    expect(await stack.bus.deadLetters()).toEqual([]);
    await uploader.kill("SIGTERM");
  });

  it("an uploader SIGKILLed mid-upload: another replica completes it, one version, bytes intact", async () => {
    const first = await stack.bus.startUploader();
    const t = await stack.bus.trainer();
    const path = join(stack.bus.dir, "big.pt");
    const hash = await writeLargeFile(path, 96 << 20);
    const name = `${unique("big")}.pt`;
    const logged = await t.publisher.logFile({ project: "crash", run: "r1", name, path });
    await first.waitForLog((l) => l.msg === "upload progress" && Number(l.bytesDone) > 0, 30_000);
    await stack.double.pause(); // the PUT hangs mid-way
    try {
      await first.kill("SIGKILL");
    } finally {
      stack.double.resume();
    }
    const second = await stack.bus.startUploader();
    await t.publisher.flush({ timeoutMs: 120_000 });
    const versions = await stack.versions("crash", name);
    expect(versions.map((v) => v.version)).toEqual(["v0"]);
    expect(sha256(await stack.bytesOf(versions[0]!))).toBe(hash);
    expect(await stack.bus.ledger(logged)).toMatchObject({ state: "uploaded" });
    await t.close();
    await second.kill("SIGTERM");
  });

  it("an uploader SIGKILLed between commit and ack: the redelivery finds the version committed and makes no second one", async () => {
    const first = await stack.bus.startUploader();
    // The commit is applied, but its answer is held back: the uploader dies before it records it.
    await stack.double.fault({ target: "graphql", operation: "CommitArtifact", times: 1, delayMs: 30_000 });
    const name = `${unique("commit")}.pt`;
    const { t, logged, data } = await log("commit", name);
    await eventually(
      async () => ((await stack.versions("commit", name)).length ? true : undefined),
      20_000,
      "v0 committed",
    );
    await first.kill("SIGKILL");
    const second = await stack.bus.startUploader();
    await t.publisher.flush({ timeoutMs: 60_000 });
    const versions = await stack.versions("commit", name);
    expect(versions.map((v) => v.version)).toEqual(["v0"]);
    expect(await stack.bytesOf(versions[0]!)).toEqual(data);
    expect(await stack.bus.ledger(logged)).toMatchObject({ state: "uploaded", details: { deduplicated: "true" } });
    await t.close();
    await second.kill("SIGTERM");
  });
});
