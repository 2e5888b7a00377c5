/**
 * The gateway's connection limits as a slow or vanishing client meets them, over raw sockets:
 * `headersTimeoutMs` cuts a client trickling its headers when it is due, not at Node's next
 * 30-second check; a client that goes away mid-body is an ordinary event, logged at info without
 * a stack, never an error of the gateway.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { eventually } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";
import { RawConnection } from "./harness/raw-http.ts";

const HEADERS_TIMEOUT_MS = 2_000;
let stack: GatewayStack;
let token: string;

beforeAll(async () => {
  stack = await GatewayStack.start({
    uploader: false,
    // The idle timeout is far away: only the headers timeout can cut a client that keeps sending.
    gateway: { headersTimeoutMs: HEADERS_TIMEOUT_MS, idleTimeoutMs: 60_000 },
  });
  token = stack.token(["demo"], ["publish"]);
  await stack.reload();
});
afterAll(async () => stack?.dispose());

describe("connection limits", () => {
  it("keeps an idle connection longer than clients' pools do, so a client never reuses one the gateway just closed", async () => {
    const res = await stack.fetch("/healthz", token);
    await res.arrayBuffer();
    // undici (fetch) keeps a socket for the advertised timeout less a second or two: with the
    // gateway's old 5 s, a request sent at that moment on a loaded machine met "other side closed".
    const advertised = Number(/timeout=(\d+)/.exec(res.headers.get("keep-alive") ?? "")?.[1]);
    expect(advertised).toBeGreaterThanOrEqual(60);
  });

  it("a client trickling its headers is cut soon after headersTimeoutMs, with a 408 problem", async () => {
    const c = await RawConnection.open(stack.url);
    const started = Date.now();
    c.write("GET /healthz HTTP/1.1\r\nHost: gateway\r\n");
    // A header line every 200 ms: the connection is never idle, the head never complete.
    let n = 0;
    const trickle = setInterval(() => c.write(`X-Trickle-${n++}: 1\r\n`), 200);
    try {
      const answer = await c.nextHead();
      await c.closedByPeer();
      const cutAfter = Date.now() - started;
      expect(answer?.status).toBe(408);
      expect(answer?.head).toMatch(/\r\ncontent-type: application\/problem\+json/i);
      // Node checks at connectionsCheckingInterval: due at 2 s, cut well before a 30 s check.
      expect(cutAfter).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 100);
      expect(cutAfter).toBeLessThan(HEADERS_TIMEOUT_MS + 2_000);
    } finally {
      clearInterval(trickle);
      c.destroy();
    }
  });

  it("a client gone mid-body is logged at info, without a stack, and nothing at warn or above", async () => {
    const before = stack.gateway.lines.length;
    const c = await RawConnection.open(stack.url);
    c.write(
      [
        "PUT /v1/projects/demo/runs/gone/artifacts/a.bin HTTP/1.1",
        "Host: gateway",
        `Authorization: Bearer ${token}`,
        `Content-Length: ${4 << 20}`,
        "",
        "",
      ].join("\r\n"),
    );
    c.write(randomBytes(1 << 20));
    // Being received once its temp file is in the staging dir.
    const runDir = join(stack.bus.dir, "staging/demo/gone");
    const receiving = () => existsSync(runDir) && readdirSync(runDir).some((f) => f.startsWith(".tmp-"));
    await eventually(() => (receiving() ? true : undefined), 10_000, "the gateway receiving the body");
    c.destroy();
    // The request's last line: its error handler's, whatever it makes of the error.
    const ended = /client went away|request failed|request refused/;
    const lines = await eventually(
      () => {
        const since = stack.gateway.lines.slice(before);
        return since.some((x) => ended.test(x.msg ?? "")) ? since : undefined;
      },
      10_000,
      "the request's last log line",
    );
    expect(lines.filter((l) => (l.level ?? 0) >= 40).map((l) => l.msg)).toEqual([]);
    expect(JSON.stringify(lines)).not.toMatch(/"stack"|\\n\s+at /);
  });
});
