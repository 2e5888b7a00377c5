/**
 * Input the gateway must refuse with a 400 naming the part at fault (or, for a Range, ignore as
 * RFC 9110 says), never answer 500, take for the end of a listing, or store garbled; and a body
 * refused after it was staged leaves nothing in staging. Seen over plain HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";
import { rawRequest } from "./harness/raw-http.ts";

const PROBLEM = "https://artifact-bus.dev/problems/";
let stack: GatewayStack;
let token: string;

beforeAll(async () => {
  stack = await GatewayStack.start();
  token = stack.token(["demo"], ["publish", "read"]);
  await stack.reload();
});
afterAll(async () => stack?.dispose());

const send = (method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string) =>
  rawRequest(stack.url, { method, path, headers: { authorization: `Bearer ${token}`, ...headers }, body });

describe("?destination= on a content read", () => {
  it("a value that is no destination name: 400 naming destination, as /v1/dead-letters answers", async () => {
    for (const value of ["", "bogus", "S3:local", "s3:", "%20"]) {
      const r = await send("GET", `/v1/projects/demo/runs/x1/artifacts/a.bin/content?destination=${value}`);
      expect({ value, status: r.status }).toEqual({ value, status: 400 });
      expect(r.json).toMatchObject({ type: `${PROBLEM}invalid-request`, field: "destination" });
    }
  });
});

describe("POST .../artifacts by path", () => {
  it("a path holding a NUL byte: 400 naming path", async () => {
    for (const path of [`${stack.allowedDir}/a.txt\u0000x`, "/some/dir/a.txt\u0000x"]) {
      const r = await send(
        "POST",
        "/v1/projects/demo/runs/f1/artifacts",
        { "content-type": "application/json" },
        JSON.stringify({ name: "n.txt", path }),
      );
      expect(r.status).toBe(400);
      expect(r.json).toMatchObject({ type: `${PROBLEM}invalid-request`, field: "path" });
    }
  });
});
