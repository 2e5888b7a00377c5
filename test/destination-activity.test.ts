/**
 * What GET /v1/destinations says each destination is doing, on real servers (nats-server, the S3
 * double, an S3 uploader and the gateway in their own processes), with no live stream open: the
 * uploads that landed in the last minute and their bytes per second, and the newest error (a
 * token sees only its projects'), both from the gateway's one ledger watch, which runs whether
 * or not a page is open.
 */
import { eventually } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";

const DEST = "s3:e2e";
let stack: GatewayStack;
let publish: string;
let readAlpha: string;
let readBeta: string;

beforeAll(async () => {
  // One failed attempt kills an artifact: S3 stopped, the error is in the ledger at once.
  stack = await GatewayStack.start({ destination: { maxDeliver: 1 } });
  publish = stack.token(["alpha"], ["publish"]);
  readAlpha = stack.token(["alpha"], ["read"]);
  readBeta = stack.token(["beta"], ["read"]);
  await stack.reload();
}, 120_000);
afterAll(async () => stack?.dispose());

interface Destination {
  name: string;
  throughput: {
    windowSeconds: number;
    uploads: number;
    bytes: number;
    uploadsPerSecond: number;
    bytesPerSecond: number;
  };
  lastError?: { message: string; eventId: string; project: string; errorClass?: string };
}
async function destination(token: string): Promise<Destination> {
  const res = await stack.fetch("/v1/destinations", token);
  expect(res.status).toBe(200);
  const { destinations } = (await res.json()) as { destinations: Destination[] };
  return destinations.find((d) => d.name === DEST)!;
}
async function put(run: string, name: string, body: Buffer | string): Promise<string> {
  const res = await stack.fetch(`/v1/projects/alpha/runs/${run}/artifacts/${name}`, publish, { method: "PUT", body });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}
const liveStreams = async () =>
  Number(
    /^artifact_bus_gateway_live_streams (\d+)$/m.exec(await (await stack.fetch("/metrics", undefined)).text())?.[1],
  );

describe("each destination's activity in GET /v1/destinations", () => {
  it("the uploads of the last minute: how many, their bytes, per second", async () => {
    expect((await destination(readAlpha)).throughput).toMatchObject({ uploads: 0, bytes: 0, bytesPerSecond: 0 });
    const sizes = [1000, 2000, 3000];
    const ids = await Promise.all(sizes.map((n, i) => put("rate", `part-${i}.bin`, Buffer.alloc(n, i))));
    for (const id of ids) await stack.bus.ledgerReaches({ id, project: "alpha", run: "rate" }, "uploaded", 20_000);
    const t = await eventually(
      async () => {
        const d = await destination(readAlpha);
        return d.throughput.uploads === 3 ? d.throughput : undefined;
      },
      10_000,
      "the gateway to count the three uploads",
    );
    expect(t.bytes).toBe(6000);
    expect(t.windowSeconds).toBeGreaterThan(0);
    expect(t.windowSeconds).toBeLessThanOrEqual(60);
    expect(t.bytesPerSecond).toBe(Math.round(6000 / t.windowSeconds));
    expect(t.uploadsPerSecond).toBeGreaterThan(0);
    expect(await liveStreams()).toBe(0);
  });

  it("the newest error is known with no live stream open, to tokens of its project only", async () => {
    expect(await liveStreams()).toBe(0);
    await stack.s3.s3.stop();
    let id: string;
    try {
      id = await put("down", "lost.bin", "lost while S3 is down");
      await stack.bus.ledgerReaches({ id, project: "alpha", run: "down" }, "dead", 30_000);
    } finally {
      await stack.s3.s3.restart();
    }
    const d = await eventually(
      async () => {
        const x = await destination(readAlpha);
        return x.lastError?.eventId === id ? x : undefined;
      },
      10_000,
      "the destination's last error",
    );
    expect(d.lastError).toMatchObject({ project: "alpha", message: expect.stringMatching(/\S/) });
    expect((await destination(readBeta)).lastError).toBeUndefined();
    expect(await liveStreams()).toBe(0);
  });
});
