/**
 * A W&B multipart upload cannot be resumed (README, W&B "Resuming"): the protocol has no way back
 * into an upload id. What a killed one does instead, on a real uploader process against the strict
 * double: the redelivery starts over under a new upload id, sends every part again, and commits
 * one version; the killed upload is never completed.
 */
import { join } from "node:path";
import { eventually, sha256, writeRandomFile } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WandbStack } from "./harness/wandb-stack.ts";

const MiB = 1024 * 1024;
const PART = 5 * MiB;

let stack: WandbStack;
beforeAll(async () => {
  stack = await WandbStack.start({ wandbOptions: { multipartThresholdBytes: 8 * MiB, partSizeBytes: PART } });
});
afterAll(async () => {
  await stack?.dispose();
});

describe("a killed W&B multipart upload", () => {
  it("starts over after parts landed: a new upload, every part sent again, one version with the bytes", async () => {
    const double = stack.double;
    const stored = async () =>
      (await double.requests()).filter((r) => r.kind === "storage" && r.method === "PUT" && r.status === 200);
    const first = await stack.bus.startUploader();
    // Each part's answer held 1.5 s: the upload is still sending parts when it is killed.
    await double.fault({ target: "storage", delayMs: 1500, times: 1000 });
    const t = await stack.bus.trainer();
    const path = join(stack.bus.dir, "sharded.pt");
    const data = writeRandomFile(path, 4 * PART + 123);
    const name = `restart-${process.pid}.pt`;
    const logged = await t.publisher.logFile({ project: "restart", run: "r1", name, path });
    const landed = await eventually(
      async () => ((await stored()).length >= 2 ? await stored() : undefined),
      60_000,
      "two parts stored",
    );
    await first.kill("SIGKILL");
    const killedAt = Date.now();
    await double.clearFaults();

    const second = await stack.bus.startUploader();
    await t.publisher.flush({ timeoutMs: 120_000 });
    const requests = await double.requests();
    const ok = (op: string) => requests.filter((r) => r.operation === op && r.status === 200);
    // Two uploads were begun (one per attempt), one completed: the killed one stays incomplete.
    expect(ok("CreateArtifactFiles")).toHaveLength(2);
    expect(ok("CompleteMultipartUploadArtifact")).toHaveLength(1);
    expect(ok("CompleteMultipartUploadArtifact")[0]!.at).toBeGreaterThan(killedAt);
    // Every part sent again after the kill, those that had landed before included.
    const partsAfter = (await stored()).filter((r) => r.at > killedAt && (r.bytes ?? 0) >= 123);
    expect(landed.length).toBeGreaterThanOrEqual(2);
    expect(partsAfter.filter((r) => r.bytes === PART)).toHaveLength(4);
    expect(partsAfter.filter((r) => r.bytes === 123)).toHaveLength(1);
    const versions = await stack.versions("restart", name);
    expect(versions.map((v) => v.version)).toEqual(["v0"]);
    expect(sha256(await stack.bytesOf(versions[0]!))).toBe(sha256(data));
    expect(await stack.bus.ledger(logged)).toMatchObject({ state: "uploaded" });
    await t.close();
    await second.kill("SIGTERM");
  });
});
