/**
 * Every error the gateway answers is an RFC 9457 problem (`application/problem+json`), also the
 * ones the framework or Node's HTTP parser raise before a route runs; refusals a client can know
 * from the headers come before `100 Continue`, so it never sends a body only to have it refused;
 * a Content-Digest the gateway cannot check is refused, not ignored; a JSON body is taken as
 * sent or refused, never coerced or trimmed to fit its schema. Seen over raw sockets.
 */
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { EVENTS_PREFIX, EVENTS_STREAM } from "@artifact-bus/shared";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";
import { RawConnection, rawRequest } from "./harness/raw-http.ts";

const PROBLEM = "https://artifact-bus.dev/problems/";
const MAX_BODY = 1_000_000;
let stack: GatewayStack;
let token: string;
let other: string;

beforeAll(async () => {
  stack = await GatewayStack.start({ uploader: false, gateway: { maxBodyBytes: MAX_BODY } });
  token = stack.token(["demo"], ["publish"]);
  other = stack.token(["vision"], ["publish"]);
  await stack.reload();
});
afterAll(async () => stack?.dispose());

async function eventsOf(run: string): Promise<number> {
  const jsm = await jetstreamManager(stack.bus.nc);
  const info = await jsm.streams.info(EVENTS_STREAM, { subjects_filter: `${EVENTS_PREFIX}.demo.${run}.>` });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

/** The problem document of a raw answer (head and body as sent). */
function problemOf(head: string, body: string): Record<string, unknown> {
  expect(head).toMatch(/\r\ncontent-type: application\/problem\+json/i);
  return JSON.parse(body) as Record<string, unknown>;
}

describe("errors raised before a route runs are problems too", () => {
  it("an invalid %-encoding in the path: 400 problem+json, not the framework's own JSON", async () => {
    const r = await rawRequest(stack.url, {
      method: "GET",
      path: "/v1/projects/demo/runs/r1/artifacts/%E0%A4%A/content",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(r.status).toBe(400);
    expect(r.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(r.json).toMatchObject({ type: `${PROBLEM}invalid-request`, status: 400, field: "path" });
  });

  it("a request Node's parser refuses (a header line without a colon): 400 problem+json", async () => {
    const c = await RawConnection.open(stack.url);
    c.write("GET /healthz HTTP/1.1\r\nHost: x\r\nNot a header\r\n\r\n");
    const answer = await c.nextHead();
    expect(answer?.status).toBe(400);
    // The gateway closes the connection after it: the body is everything after the head.
    const body = await c.closedByPeer();
    expect(problemOf(answer?.head ?? "", body)).toMatchObject({ type: `${PROBLEM}invalid-request`, status: 400 });
  });
});

describe("Expect: 100-continue", () => {
  const head = (path: string, bearer: string, length: number) =>
    [
      `PUT ${path} HTTP/1.1`,
      "Host: gateway",
      `Authorization: Bearer ${bearer}`,
      `Content-Length: ${length}`,
      "Expect: 100-continue",
      "",
      "",
    ].join("\r\n");

  it("a wrong token, another project's token or a body over the limit is refused before 100 Continue", async () => {
    for (const [path, bearer, length, status, kind] of [
      ["/v1/projects/demo/runs/c1/artifacts/a.bin", "wrong", 10, 401, "unauthorized"],
      ["/v1/projects/demo/runs/c1/artifacts/a.bin", other, 10, 403, "forbidden"],
      ["/v1/projects/demo/runs/c1/artifacts/a.bin", token, MAX_BODY + 1, 413, "payload-too-large"],
    ] as const) {
      const c = await RawConnection.open(stack.url);
      c.write(head(path, bearer, length));
      // The client sends no body: the first answer must be the refusal itself.
      const answer = await c.nextHead();
      expect({ kind, status: answer?.status }).toEqual({ kind, status });
      expect(answer?.head).toMatch(/\r\ncontent-type: application\/problem\+json/i);
      c.destroy();
    }
    expect(await eventsOf("c1")).toBe(0);
  });

  it("an acceptable request gets 100 Continue, then its 202 once the body came", async () => {
    const bytes = randomBytes(50_000);
    const c = await RawConnection.open(stack.url);
    c.write(head("/v1/projects/demo/runs/c2/artifacts/a.bin", token, bytes.length));
    expect((await c.nextHead())?.status).toBe(100);
    c.write(bytes);
    expect((await c.nextHead())?.status).toBe(202);
    c.destroy();
    expect(await eventsOf("c2")).toBe(1);
  });
});

describe("Content-Digest", () => {
  it("with only algorithms the gateway does not check (sha-512): 400 naming the header, nothing published", async () => {
    const bytes = randomBytes(10_000);
    const sha512 = createHash("sha512").update(bytes).digest("base64");
    const r = await rawRequest(stack.url, {
      method: "PUT",
      path: "/v1/projects/demo/runs/d1/artifacts/a.bin",
      headers: { authorization: `Bearer ${token}`, "content-digest": `sha-512=:${sha512}:` },
      body: bytes,
    });
    expect(r.status).toBe(400);
    expect(r.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(r.json).toMatchObject({ type: `${PROBLEM}invalid-request`, field: "Content-Digest" });
    expect(String(r.json?.detail)).toMatch(/sha-256/);
    expect(await eventsOf("d1")).toBe(0);
  });
});

describe("JSON bodies are validated as sent: no coercion, no unknown field dropped", () => {
  const post = (path: string, body: unknown) =>
    rawRequest(stack.url, {
      method: "POST",
      path: `/v1/projects/demo/runs/${path}`,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  it("POST artifacts: a metadata value, name or level of another type, or an unknown field: 400 naming it", async () => {
    const path = join(stack.allowedDir, "j1.bin");
    writeFileSync(path, randomBytes(1_000));
    const file = { name: "j1.bin", path, mode: "copy" };
    for (const [body, field] of [
      [{ ...file, metadata: { a: 1 } }, "metadata.a"],
      [{ ...file, metadata: { a: true } }, "metadata.a"],
      [{ ...file, metadata: { a: null } }, "metadata.a"],
      [{ ...file, metadata: { a: ["x"] } }, "metadata.a"],
      [{ ...file, name: 7 }, "name"],
      [{ ...file, level: ["epoch"] }, "level"],
      [{ ...file, bogus: 1 }, "bogus"],
    ] as const) {
      const r = await post("j1/artifacts", body);
      expect({ body, status: r.status, type: r.json?.type, field: r.json?.field }).toEqual({
        body,
        status: 400,
        type: `${PROBLEM}invalid-request`,
        field,
      });
      expect(r.headers["content-type"]).toMatch(/^application\/problem\+json/);
    }
    expect(await eventsOf("j1")).toBe(0);
    // The same file with a body of the right types is taken.
    expect((await post("j1/artifacts", { ...file, metadata: { a: "1" } })).status).toBe(202);
  });

  it("POST sets/close: members as a string or an unknown field: 400 naming it, nothing published", async () => {
    for (const [body, field] of [
      [{ set: "checkpoints/ep1", members: "2" }, "members"],
      [{ set: "checkpoints/ep1", members: 2, bogus: 1 }, "bogus"],
    ] as const) {
      const r = await post("j2/sets/close", body);
      expect({ body, status: r.status, type: r.json?.type, field: r.json?.field }).toEqual({
        body,
        status: 400,
        type: `${PROBLEM}invalid-request`,
        field,
      });
    }
    expect(await eventsOf("j2")).toBe(0);
  });
});
