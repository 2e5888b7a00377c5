/**
 * The URL's project is the authority on every gateway route that names one: a token of project
 * A, holding every role, is refused on each such route of the published OpenAPI document when
 * the URL names project B. Walking the document (not a hand-kept list) means a route added later
 * is held to the same rule without anyone remembering to add it here.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";

const root = resolve(import.meta.dirname, "..");
const openapi = JSON.parse(readFileSync(join(root, "services/gateway/openapi.json"), "utf8")) as {
  paths: Record<string, Record<string, unknown>>;
};
const METHODS = ["get", "put", "post", "delete", "patch"] as const;

/** Each (method, path) of the document whose path names `{project}`, with B's ids filled in. */
const scoped = Object.entries(openapi.paths).flatMap(([path, ops]) =>
  path.includes("{project}")
    ? METHODS.filter((m) => m in ops).map((m) => ({
        method: m.toUpperCase(),
        path,
        url: path
          .replace("{project}", "b")
          .replace("{run}", "r1")
          .replace(/\{name\}|\{\*\}|\{[^}]+\}/g, "ckpt/x.pt"),
      }))
    : [],
);

let stack: GatewayStack;
let tokenA: string;

beforeAll(async () => {
  stack = await GatewayStack.start({ secured: true, uploader: false });
  tokenA = stack.token(["a"], ["publish", "read", "admin"]);
  await stack.reload();
});
afterAll(async () => stack?.dispose());

describe("every route that names a project", () => {
  it("the document names some (the walk below is not empty)", () => {
    expect(scoped.length).toBeGreaterThanOrEqual(8);
  });

  it.each(scoped)("$method $path refuses project a's token on project b (403 problem)", async ({ method, url }) => {
    const body = method === "GET" ? undefined : method === "PUT" ? "bytes of a" : JSON.stringify({});
    const r = await stack.fetch(url, tokenA, {
      method,
      ...(body !== undefined ? { body } : {}),
      headers:
        method === "PUT" ? { "content-type": "application/octet-stream" } : { "content-type": "application/json" },
    });
    const text = await r.text();
    expect({ status: r.status, type: r.headers.get("content-type") }, text).toEqual({
      status: 403,
      type: expect.stringContaining("application/problem+json"),
    });
    // The refusal names the project, never what project b holds.
    expect(text).not.toContain('ckpt/x.pt","sha256');
  });
});
