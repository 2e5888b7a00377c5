/**
 * `If-Range` on the content endpoint (RFC 9110 13.1.5), seen by a plain HTTP client: a resuming
 * download names the version it has the start of; when a newer version landed meanwhile, the
 * gateway ignores Range and sends the whole current version (200), so no client ever stitches
 * two versions of `latest.pt` together.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";
import { rawRequest } from "./harness/raw-http.ts";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const CONTENT = "/v1/projects/demo/runs/ir/artifacts/ckpt/latest.pt/content";
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

/** Logs `bytes` as ckpt/latest.pt and waits until it landed. */
async function logAndLand(bytes: Buffer): Promise<void> {
  const put = await rawRequest(stack.url, {
    method: "PUT",
    path: "/v1/projects/demo/runs/ir/artifacts/ckpt/latest.pt",
    headers: { authorization: `Bearer ${publish}` },
    body: bytes,
  });
  expect(put.status).toBe(202);
  const wait = await rawRequest(stack.url, {
    method: "POST",
    path: "/v1/projects/demo/runs/ir/wait?timeout=30",
    headers: { authorization: `Bearer ${reader}` },
  });
  expect(wait.json?.done).toBe(true);
}

const get = (headers: Record<string, string>) =>
  rawRequest(stack.url, { method: "GET", path: CONTENT, headers: { authorization: `Bearer ${reader}`, ...headers } });

describe("If-Range on .../content", () => {
  it("with the ETag of an older version: the whole current version, 200, never a slice of it", async () => {
    const older = randomBytes(100_000);
    await logAndLand(older);
    const first = await get({});
    expect(first.headers.etag).toBe(`"${sha256(older)}"`);
    const newer = randomBytes(150_000);
    await logAndLand(newer);

    // A download that has the first 60,000 bytes of the older version resumes.
    const resumed = await get({ range: "bytes=60000-", "if-range": first.headers.etag as string });
    expect(resumed.status).toBe(200);
    expect(resumed.headers["content-range"]).toBeUndefined();
    expect(resumed.headers.etag).toBe(`"${sha256(newer)}"`);
    expect(sha256(resumed.body)).toBe(sha256(newer));

    // A range the older version had and the newer has not is no 416 either: Range is ignored.
    const beyond = await get({ range: "bytes=200000-", "if-range": first.headers.etag as string });
    expect(beyond.status).toBe(200);
    expect(beyond.body.length).toBe(newer.length);
  });

  it("a Range outside the current version: 416 with Content-Range: bytes */<size>", async () => {
    const current = await get({});
    const r = await get({ range: `bytes=${current.body.length}-`, "if-range": current.headers.etag as string });
    expect(r.status).toBe(416);
    expect(r.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(r.headers["content-range"]).toBe(`bytes */${current.body.length}`);
  });

  it("with the current ETag: the range, 206", async () => {
    const current = await get({});
    const etag = current.headers.etag as string;
    const part = await get({ range: "bytes=1000-", "if-range": etag });
    expect(part.status).toBe(206);
    expect(part.headers["content-range"]).toBe(`bytes 1000-${current.body.length - 1}/${current.body.length}`);
    expect(part.body.equals(current.body.subarray(1000))).toBe(true);
  });

  it("with a weak ETag or a date (no Last-Modified to hold it to): the whole, 200", async () => {
    const current = await get({});
    const etag = current.headers.etag as string;
    for (const ifRange of [`W/${etag}`, new Date(Date.now() + 3600_000).toUTCString()]) {
      const r = await get({ range: "bytes=1000-", "if-range": ifRange });
      expect({ ifRange, status: r.status, length: r.body.length }).toEqual({
        ifRange,
        status: 200,
        length: current.body.length,
      });
    }
  });
});
