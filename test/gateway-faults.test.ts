/**
 * The gateway under faults, with real processes: a client that stops halfway through a body,
 * NATS going away, and the gateway itself killed (SIGKILL) mid-upload. Nothing is published
 * that should not be, nothing staged is leaked, and a retry with the same Idempotency-Key
 * publishes once.
 */
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { EVENTS_PREFIX, EVENTS_STREAM } from "@artifact-bus/shared";
import { eventually } from "@artifact-bus/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";

let stack: GatewayStack;
let token: string;

beforeAll(async () => {
  // A short idle timeout: the sweep of abandoned bodies waits twice that.
  stack = await GatewayStack.start({ gateway: { idleTimeoutMs: 1_000 } });
  token = stack.token(["demo"], ["publish"]);
  await stack.reload();
});
afterAll(async () => stack?.dispose());

/** Files in the run's staging dir, temp files included. */
const staged = (run: string) => {
  try {
    return readdirSync(join(stack.bus.dir, "staging/demo", run));
  } catch {
    return [];
  }
};

async function eventsOf(run: string): Promise<number> {
  const jsm = await jetstreamManager(stack.bus.nc);
  const info = await jsm.streams.info(EVENTS_STREAM, { subjects_filter: `${EVENTS_PREFIX}.demo.${run}.>` });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

/** A raw HTTP PUT that announces `length` bytes and sends only `send` of them; resolves once they are written. */
async function halfPut(path: string, length: number, send: number, headers: Record<string, string> = {}) {
  const url = new URL(stack.url);
  const socket: Socket = connect(Number(url.port), url.hostname);
  // The gateway going away resets it: expected here.
  socket.on("error", () => {});
  await new Promise((resolve) => socket.once("connect", resolve));
  const lines = [
    `PUT ${path} HTTP/1.1`,
    `Host: ${url.host}`,
    `Authorization: Bearer ${token}`,
    `Content-Length: ${length}`,
    "Content-Type: application/octet-stream",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  const chunk = randomBytes(64 * 1024);
  for (let sent = 0; sent < send; sent += chunk.length) {
    if (!socket.write(chunk.subarray(0, Math.min(chunk.length, send - sent)))) {
      await new Promise((resolve) => socket.once("drain", resolve));
    }
  }
  return socket;
}

describe("gateway faults", () => {
  it("a client that stops halfway: no event, no staged file", async () => {
    const socket = await halfPut("/v1/projects/demo/runs/f1/artifacts/half.bin", 20 << 20, 8 << 20);
    // The gateway is receiving it: its temp file is there.
    await eventually(() => (staged("f1").length > 0 ? true : undefined), 10_000, "a temp file");
    socket.destroy();
    await eventually(() => (staged("f1").length === 0 ? true : undefined), 10_000, "the temp file removed");
    expect(await eventsOf("f1")).toBe(0);
  });

  it("NATS away: 503 with Retry-After, quickly, nothing staged; requests work again once it is back", async () => {
    await stack.bus.nats.stop();
    try {
      await eventually(
        async () => ((await stack.fetch("/readyz", undefined)).status === 503 ? true : undefined),
        10_000,
        "readyz 503",
      );
      const t0 = performance.now();
      const r = await stack.fetch("/v1/projects/demo/runs/f2/artifacts/x.bin", token, {
        method: "PUT",
        body: randomBytes(1 << 20),
      });
      const ms = performance.now() - t0;
      expect(r.status).toBe(503);
      expect(r.headers.get("retry-after")).toMatch(/^\d+$/);
      expect(((await r.json()) as { type: string }).type).toMatch(/nats-unavailable$/);
      expect(ms).toBeLessThan(2_000);
      expect(staged("f2")).toEqual([]);
    } finally {
      await stack.bus.nats.restart();
    }
    const ok = await eventually(
      async () => {
        const r = await stack.fetch("/v1/projects/demo/runs/f2/artifacts/x.bin", token, { method: "PUT", body: "y" });
        return r.status === 202 ? r : undefined;
      },
      20_000,
      "a PUT accepted after NATS came back",
    );
    expect(ok.status).toBe(202);
  });

  it("the gateway killed mid-upload: its temp file is swept, and a retry with the same key succeeds once", async () => {
    const key = { "Idempotency-Key": "rank3-ckpt-9" };
    const socket = await halfPut("/v1/projects/demo/runs/f3/artifacts/ckpt.pt", 16 << 20, 6 << 20, key);
    await eventually(() => (staged("f3").length > 0 ? true : undefined), 10_000, "a temp file");
    await stack.gateway.kill("SIGKILL");
    socket.destroy();
    expect(staged("f3").length).toBe(1);
    await stack.startGateway();
    await eventually(() => (staged("f3").length === 0 ? true : undefined), 15_000, "the temp file swept");
    const body = randomBytes(3 << 20);
    const retry = () =>
      stack.fetch("/v1/projects/demo/runs/f3/artifacts/ckpt.pt", token, { method: "PUT", body, headers: key });
    const [first, second] = [await retry(), await retry()];
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    const accepted = (await first.json()) as { id: string };
    expect(await second.json()).toEqual(accepted);
    expect(await eventsOf("f3")).toBe(1);
    // One blob and no temp file; the stack's uploader may have uploaded and released it already.
    const left = staged("f3");
    if (left.length === 0) {
      expect(await stack.bus.ledger({ id: accepted.id, project: "demo", run: "f3" })).toMatchObject({
        state: "uploaded",
      });
    } else expect(left).toEqual([accepted.id]);
  });
});
