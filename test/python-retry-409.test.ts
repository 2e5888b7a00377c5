/**
 * The Python client takes a 409 with Retry-After (the same Idempotency-Key still in flight at the
 * gateway) for what it is, a request to come back later: retryable, after that many seconds, not
 * a refusal that drops the artifact.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";
import { heldPut } from "./harness/raw-http.ts";

const CLIENT = resolve(import.meta.dirname, "../clients/python");
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const PATH = "/v1/projects/demo/runs/py409/artifacts/a.bin";
let stack: GatewayStack;
let token: string;

beforeAll(async () => {
  stack = await GatewayStack.start({ uploader: false });
  token = stack.token(["demo"], ["publish"]);
  await stack.reload();
});
afterAll(async () => stack?.dispose());

describe("Python client and 409", () => {
  it("a PUT whose key is in flight raises RetryableError with the gateway's Retry-After", async () => {
    const bytes = randomBytes(100_000);
    const held = await heldPut(stack.url, {
      path: PATH,
      headers: { authorization: `Bearer ${token}`, "idempotency-key": "k409" },
      body: bytes,
      sentBytes: 50_000,
      runDir: join(stack.bus.dir, "staging/demo/py409"),
    });

    const code = [
      "import sys",
      "from artifact_bus._http import HttpTransport",
      "from artifact_bus.errors import RetryableError",
      "t = HttpTransport(sys.argv[1], token=sys.argv[2])",
      "try:",
      "    t._call('PUT', sys.argv[3], body=b'x' * 100000, headers={'Idempotency-Key': 'k409'})",
      "    print('accepted')",
      "except RetryableError as e:",
      "    print('retryable', e.status, e.retry_after)",
      "except Exception as e:",
      "    print('refused', type(e).__name__, getattr(e, 'status', None))",
    ].join("\n");
    const { stdout } = await promisify(execFile)(PYTHON, ["-c", code, stack.url, token, PATH], {
      cwd: CLIENT,
      env: { ...process.env, PYTHONPATH: CLIENT },
      timeout: 60_000,
    });
    expect(await held.finish()).toBe(202);
    expect(stdout.trim()).toBe("retryable 409 1.0");
  });
});
