/**
 * HEAD on the content endpoint, seen by a plain HTTP client against real servers: the status and
 * headers GET would answer (ETag, Content-Length, Accept-Ranges, Artifact-Id, Content-Range for
 * a Range), without a byte of the body, which it does not fetch from the destination either; and
 * the same refusals, without their problem bodies.
 */
import { createHash, randomBytes } from "node:crypto";
import { bytesRead } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";
import { rawRequest } from "./harness/raw-http.ts";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const RUN = "/v1/projects/demo/runs/hd";
let stack: GatewayStack;
let publish: string;
let reader: string;

beforeAll(async () => {
  stack = await GatewayStack.start();
  publish = stack.token(["demo"], ["publish"]);
  reader = stack.token(["demo"], ["read"]);
  await stack.reload();
});
afterAll(async () => stack?.dispose());

const request = (method: string, name: string, headers: Record<string, string> = {}) =>
  rawRequest(stack.url, {
    method,
    path: `${RUN}/artifacts/${name}/content`,
    headers: { authorization: `Bearer ${reader}`, ...headers },
  });

describe("HEAD .../artifacts/{name}/content", () => {
  const bytes = randomBytes(70_000);

  beforeAll(async () => {
    const put = await rawRequest(stack.url, {
      method: "PUT",
      path: `${RUN}/artifacts/ckpt/a.pt?level=epoch`,
      headers: { authorization: `Bearer ${publish}`, "content-type": "application/x-test" },
      body: bytes,
    });
    expect(put.status).toBe(202);
    const wait = await rawRequest(stack.url, {
      method: "POST",
      path: `${RUN}/wait?timeout=30`,
      headers: { authorization: `Bearer ${reader}` },
    });
    expect(wait.json?.done).toBe(true);
  });

  it("answers GET's status and headers without the body", async () => {
    const head = await request("HEAD", "ckpt/a.pt");
    const get = await request("GET", "ckpt/a.pt");
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(sha256(get.body)).toBe(sha256(bytes));
    expect(head.headers).toMatchObject({
      etag: `"${sha256(bytes)}"`,
      "content-length": String(bytes.length),
      "accept-ranges": "bytes",
      "content-type": "application/x-test",
    });
    for (const h of [
      "etag",
      "content-length",
      "accept-ranges",
      "content-type",
      "artifact-id",
      "artifact-destination",
    ]) {
      expect(head.headers[h], h).toBe(get.headers[h]);
    }
  });

  it("with a Range: 206 and the Content-Range and Content-Length GET would send", async () => {
    const head = await request("HEAD", "ckpt/a.pt", { range: "bytes=1000-1999" });
    expect(head.status).toBe(206);
    expect(head.body.length).toBe(0);
    expect(head.headers["content-range"]).toBe(`bytes 1000-1999/${bytes.length}`);
    expect(head.headers["content-length"]).toBe("1000");
  });

  it("refuses as GET does, with the status and no body", async () => {
    const missing = await request("HEAD", "ckpt/none.pt");
    expect(missing.status).toBe(404);
    expect(missing.body.length).toBe(0);
    const outside = await request("HEAD", "ckpt/a.pt", { range: `bytes=${bytes.length}-` });
    expect(outside.status).toBe(416);
    expect(outside.headers["content-range"]).toBe(`bytes */${bytes.length}`);
  });

  it("fetches none of the bytes from the destination (a checkpoint's HEAD costs no read of it)", async () => {
    const size = 32 << 20;
    const big = randomBytes(size);
    const put = await rawRequest(stack.url, {
      method: "PUT",
      path: `${RUN}/artifacts/ckpt/big.pt`,
      headers: { authorization: `Bearer ${publish}` },
      body: big,
    });
    expect(put.status).toBe(202);
    const wait = await rawRequest(stack.url, {
      method: "POST",
      path: `${RUN}/wait?timeout=60`,
      headers: { authorization: `Bearer ${reader}` },
    });
    expect(wait.json?.done).toBe(true);
    const gateway = stack.gateway.pid;
    const before = bytesRead(gateway);
    const head = await request("HEAD", "ckpt/big.pt");
    expect([head.status, head.headers["content-length"]]).toEqual([200, String(size)]);
    const headRead = bytesRead(gateway) - before;
    // The measure sees a read of the bytes: GET's.
    const get = await request("GET", "ckpt/big.pt");
    expect(get.body.length).toBe(size);
    expect(bytesRead(gateway) - before - headRead).toBeGreaterThan(size);
    expect(headRead).toBeLessThan(size / 8);
  });
});
