/**
 * An error that concerns one artifact but reads as the destination's (a W&B 400, an S3
 * AccessDenied on one key from a bucket policy or KMS) while the destination's probe passes:
 * the runtime counts it as an attempt of that artifact, so it ends in the DLQ after maxDeliver,
 * and later versions of its name go through. Before, it looped forever (never an attempt), the
 * breaker re-opened on every try, and every later version of the name waited behind it.
 * Real processes: nats-server; the wandb uploader with the W&B API double answering 400 to one
 * artifact's createArtifact (matched by its digest) while the rest of the API works; the s3
 * uploader with s3rver behind a proxy that answers AccessDenied to writes of one key (S3's
 * policy engine cannot run here).
 */
import { join } from "node:path";
import { b64md5, manifestDigest, sha256, writeRandomFile } from "@artifact-bus/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AccessDeniedProxy } from "./harness/access-denied-proxy.ts";
import { QUICK_BREAKER } from "./harness/bus-stack.ts";
import { S3Stack } from "./harness/s3-stack.ts";
import { WandbStack } from "./harness/wandb-stack.ts";

let stack: WandbStack;

beforeAll(async () => {
  stack = await WandbStack.start({
    destination: { maxDeliver: 3, breaker: QUICK_BREAKER },
    wandbOptions: { retries: 0 },
  });
});
afterAll(async () => {
  await stack?.dispose();
});

it("a W&B 400 on one artifact while the probe passes: maxDeliver attempts, then the DLQ; the next version of its name uploads", async () => {
  const uploader = await stack.bus.startUploader();
  const t = await stack.bus.trainer();
  const name = "ckpt.pt";
  const bad = writeRandomFile(join(stack.bus.dir, "bad.pt"), 2000);
  // Every createArtifact of these bytes (its digest is in the request) answers 400; others pass.
  const digest = manifestDigest([{ path: name, digest: b64md5(bad) }]);
  await stack.double.fault({
    target: "graphql",
    operation: "CreateArtifact",
    bodyIncludes: digest,
    times: 1000,
    status: 400,
  });
  const first = await t.publisher.logFile({ project: "one", run: "r1", name, path: join(stack.bus.dir, "bad.pt") });
  const good = writeRandomFile(join(stack.bus.dir, "good.pt"), 2000);
  const second = await t.publisher.logFile({ project: "one", run: "r1", name, path: join(stack.bus.dir, "good.pt") });

  const dead = await stack.bus.ledgerReaches(first, "dead", 30_000);
  expect(dead).toMatchObject({ attempts: 3, error: expect.stringMatching(/HTTP 400/) });
  await stack.bus.ledgerReaches(second, "uploaded", 30_000);
  const versions = await stack.versions("one", name);
  expect(versions.map((v) => v.version)).toEqual(["v0"]);
  expect(sha256(await stack.bytesOf(versions[0]!))).toBe(sha256(good));
  const letters = await stack.bus.deadLetters();
  expect(letters.map((l) => [l.eventId, l.attempts])).toEqual([[first.id, 3]]);
  expect(letters[0]!.reason).toMatch(/HTTP 400/);
  await t.close();
  await uploader.kill("SIGTERM");
});

it("S3 AccessDenied on one key (a bucket policy or KMS) while HeadBucket passes: maxDeliver attempts, then the DLQ; other keys upload", async () => {
  const proxy = await AccessDeniedProxy.start();
  const s3 = await S3Stack.start({
    destination: { maxDeliver: 3, breaker: QUICK_BREAKER },
    s3Options: { endpoint: proxy.url },
  });
  try {
    proxy.target = new URL(s3.s3.endpoint);
    proxy.denied.add("denied.bin");
    const uploader = await s3.bus.startUploader();
    const t = await s3.bus.trainer();
    const denied = await t.publisher.logFile({ project: "one", run: "r1", name: "denied.bin", path: file("d1", 1500) });
    const fine = writeRandomFile(join(stack.bus.dir, "f1"), 1500);
    const other = await t.publisher.logFile({
      project: "one",
      run: "r1",
      name: "fine.bin",
      path: join(stack.bus.dir, "f1"),
    });

    const dead = await s3.bus.ledgerReaches(denied, "dead", 30_000);
    expect(dead).toMatchObject({ attempts: 3, error: expect.stringMatching(/AccessDenied/) });
    expect(proxy.deniedCount).toBe(3);
    await s3.bus.ledgerReaches(other, "uploaded", 30_000);
    expect(sha256((await s3.getObject("one/r1/fine.bin"))!)).toBe(sha256(fine));
    // The policy lifted, the next version of the key uploads: nothing holds it back.
    proxy.denied.clear();
    const again = writeRandomFile(join(stack.bus.dir, "d2"), 1500);
    const next = await t.publisher.logFile({
      project: "one",
      run: "r1",
      name: "denied.bin",
      path: join(stack.bus.dir, "d2"),
    });
    await s3.bus.ledgerReaches(next, "uploaded", 30_000);
    expect(sha256((await s3.getObject("one/r1/denied.bin"))!)).toBe(sha256(again));
    expect((await s3.bus.deadLetters()).map((l) => [l.eventId, l.attempts])).toEqual([[denied.id, 3]]);
    await t.close();
    await uploader.kill("SIGTERM");
  } finally {
    await s3.dispose();
    await proxy.close();
  }
});

function file(name: string, size: number): string {
  const path = join(stack.bus.dir, name);
  writeRandomFile(path, size);
  return path;
}
