/**
 * A 2.5 GiB artifact to W&B: multipart with a correct MD5 per part, the file whole and exact at the
 * double, and the uploader's memory flat (it streams from the verified reader, never holds the file).
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { peakRssMb } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wandbArtifactName } from "../services/wandb-uploader/src/mod.ts";
import { WandbStack } from "./harness/wandb-stack.ts";

const MiB = 1024 * 1024;
const SIZE = 2.5 * 1024 * MiB;
let stack: WandbStack;

beforeAll(async () => {
  stack = await WandbStack.start({ destination: { ackWaitMs: 30_000 } });
});
afterAll(async () => {
  await stack?.dispose();
});

/**
 * Writes `size` bytes where every MiB differs (its index stamped through it), cheaper than random
 * bytes, and unlike a sparse file a part sent in the wrong place would not go unnoticed.
 */
async function writePatterned(path: string, size: number): Promise<{ sha256: string; md5: string }> {
  const sha = createHash("sha256");
  const md5 = createHash("md5");
  const out = createWriteStream(path);
  for (let i = 0; i * MiB < size; i++) {
    const chunk = Buffer.alloc(Math.min(MiB, size - i * MiB), `chunk ${i} `);
    sha.update(chunk);
    md5.update(chunk);
    if (!out.write(chunk)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  return { sha256: sha.digest("hex"), md5: md5.digest("base64") };
}

describe("a 2.5 GiB artifact", () => {
  it("goes multipart with per-part MD5s, lands whole, and the uploader's RSS stays under 200 MB", async () => {
    const uploader = await stack.bus.startUploader();
    const t = await stack.bus.trainer();
    const path = join(stack.bus.dir, "huge.pt");
    const { sha256, md5 } = await writePatterned(path, SIZE);
    const since = Date.now();
    const name = "checkpoints/huge.pt";
    await t.publisher.logFile({ project: "large", run: "r1", name, path, mode: "link" });
    await t.publisher.flush({ timeoutMs: 280_000 });

    const v0 = await stack.version("large", name);
    expect(v0?.files).toEqual([expect.objectContaining({ path: name, size: SIZE, digest: md5, sha256 })]);
    expect(v0?.name).toBe(wandbArtifactName(name));
    const requests = (await stack.double.requests()).filter((r) => r.at >= since);
    const parts = requests.filter((r) => r.kind === "storage" && r.method === "PUT" && r.status === 200);
    expect(parts.length).toBe(Math.ceil(SIZE / (100 * MiB)) + 1); // the parts, and the manifest
    expect(requests.filter((r) => r.operation === "CompleteMultipartUploadArtifact")).toHaveLength(1);
    expect(peakRssMb(uploader.pid)).toBeLessThan(200);
    await t.close();
    await uploader.kill("SIGTERM");
  }, 300_000);
});
