/**
 * Idempotency-Key as the IETF draft has it, seen by a plain HTTP client against the gateway
 * process: a key reused for a different request (another body, name, level or method) answers
 * 422 and publishes nothing, never the first request's 202; the same request while the first is
 * still in flight answers 409 with Retry-After; the same request afterwards replays the answer.
 */
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { EVENTS_PREFIX, EVENTS_STREAM } from "@artifact-bus/shared";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";
import { heldPut, type RawAnswer, rawRequest } from "./harness/raw-http.ts";

const PROBLEM = "https://artifact-bus.dev/problems/";
let stack: GatewayStack;
let token: string;

beforeAll(async () => {
  // Nothing here needs an upload to land: no uploader, fewer processes on a shared machine.
  stack = await GatewayStack.start({ uploader: false });
  token = stack.token(["demo"], ["publish"]);
  await stack.reload();
});
afterAll(async () => stack?.dispose());

const auth = () => ({ authorization: `Bearer ${token}` });
const digest = (b: Buffer) => `sha-256=:${createHash("sha256").update(b).digest("base64")}:`;

function put(run: string, name: string, body: Buffer, key: string, headers: Record<string, string> = {}) {
  return rawRequest(stack.url, {
    method: "PUT",
    path: `/v1/projects/demo/runs/${run}/artifacts/${name}`,
    headers: { ...auth(), "idempotency-key": key, "content-type": "application/octet-stream", ...headers },
    body,
  });
}

async function eventsOf(run: string): Promise<number> {
  const jsm = await jetstreamManager(stack.bus.nc);
  const info = await jsm.streams.info(EVENTS_STREAM, { subjects_filter: `${EVENTS_PREFIX}.demo.${run}.>` });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

function expectProblem(r: RawAnswer, status: number, kind: string) {
  expect({ status: r.status, type: r.json?.type }).toEqual({ status, type: `${PROBLEM}${kind}` });
  expect(r.headers["content-type"]).toMatch(/^application\/problem\+json/);
  expect(r.headers["idempotent-replayed"]).toBeUndefined();
  expect(r.json?.field).toBe("Idempotency-Key");
}

describe("a reused Idempotency-Key", () => {
  it("with another body answers 422 (also when the body's Content-Digest says so), publishing nothing", async () => {
    const first = randomBytes(20_000);
    const ok = await put("i1", "ckpt.pt", first, "k-body");
    expect(ok.status).toBe(202);
    const other = randomBytes(20_000);
    expectProblem(await put("i1", "ckpt.pt", other, "k-body"), 422, "idempotency-key-reused");
    expectProblem(
      await put("i1", "ckpt.pt", other, "k-body", { "content-digest": digest(other) }),
      422,
      "idempotency-key-reused",
    );
    // The same request is still answered as the first time.
    const again = await put("i1", "ckpt.pt", first, "k-body");
    expect(again.status).toBe(202);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.json).toEqual(ok.json);
    expect(await eventsOf("i1")).toBe(1);
  });

  it("with another name or level answers 422", async () => {
    const bytes = randomBytes(5_000);
    expect((await put("i2", "a.pt", bytes, "k-name")).status).toBe(202);
    expectProblem(await put("i2", "b.pt", bytes, "k-name"), 422, "idempotency-key-reused");
    expectProblem(
      await put("i2", "a.pt", bytes, "k-name", { "artifact-level": "epoch" }),
      422,
      "idempotency-key-reused",
    );
    expect(await eventsOf("i2")).toBe(1);
  });

  it("with another method (POST of a file, then PUT) answers 422", async () => {
    const bytes = randomBytes(5_000);
    const file = join(stack.allowedDir, "i3.bin");
    writeFileSync(file, bytes);
    const post = await rawRequest(stack.url, {
      method: "POST",
      path: "/v1/projects/demo/runs/i3/artifacts",
      headers: { ...auth(), "idempotency-key": "k-method", "content-type": "application/json" },
      body: JSON.stringify({ name: "x.bin", path: file, mode: "copy" }),
    });
    expect(post.status).toBe(202);
    expectProblem(await put("i3", "x.bin", bytes, "k-method"), 422, "idempotency-key-reused");
    expect(await eventsOf("i3")).toBe(1);
  });

  it("while the first request is still in flight answers 409 with Retry-After; afterwards the answer", async () => {
    const bytes = randomBytes(200_000);
    // The first request is in flight once its body is being staged (its temp file is there).
    const first = await heldPut(stack.url, {
      path: "/v1/projects/demo/runs/i4/artifacts/slow.pt",
      headers: { ...auth(), "idempotency-key": "k-flight" },
      body: bytes,
      sentBytes: 100_000,
      runDir: join(stack.bus.dir, "staging/demo/i4"),
    });
    const second = await put("i4", "slow.pt", bytes, "k-flight");
    expectProblem(second, 409, "idempotency-conflict");
    expect(Number(second.headers["retry-after"])).toBeGreaterThan(0);
    expect(await first.finish()).toBe(202);
    const after = await put("i4", "slow.pt", bytes, "k-flight");
    expect(after.status).toBe(202);
    expect(after.headers["idempotent-replayed"]).toBe("true");
    expect(await eventsOf("i4")).toBe(1);
  });
});

describe("POST sets/close with an Idempotency-Key", () => {
  const close = (run: string, body: unknown, key: string) =>
    rawRequest(stack.url, {
      method: "POST",
      path: `/v1/projects/demo/runs/${run}/sets/close`,
      headers: { ...auth(), "idempotency-key": key, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  it("answers a retry with the first answer (Idempotent-Replayed), another count with 422, publishing once", async () => {
    const first = await close("i5", { set: "checkpoints/ep1", members: 2, step: 10 }, "k-close");
    expect(first.status, first.body.toString()).toBe(202);
    expect(first.headers["idempotent-replayed"]).toBeUndefined();
    // The same close, its fields in another order: the same request.
    const again = await close("i5", { step: 10, members: 2, set: "checkpoints/ep1" }, "k-close");
    expect(again.status).toBe(202);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.json).toEqual(first.json);
    // Another count under the same key would fail the set: refused, not published.
    expectProblem(
      await close("i5", { set: "checkpoints/ep1", members: 5, step: 10 }, "k-close"),
      422,
      "idempotency-key-reused",
    );
    expect(await eventsOf("i5")).toBe(1);
  });
});
