/**
 * The Python client resuming a download sends `If-Range` with the ETag its partial file is of:
 * when a newer version landed meanwhile, the gateway sends the whole new version (one 200) and
 * the client starts over from it, instead of appending a slice of the new version to the start
 * of the old one (a 206) and finding out only by the checksum.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { sha256 } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";
import { rawRequest } from "./harness/raw-http.ts";

const CLIENT = resolve(import.meta.dirname, "../clients/python");
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
let stack: GatewayStack;
let token: string;

beforeAll(async () => {
  stack = await GatewayStack.start();
  token = stack.token(["demo"], ["publish", "read"]);
  await stack.reload();
});
afterAll(async () => stack?.dispose());

async function logAndLand(bytes: Buffer): Promise<void> {
  const auth = { authorization: `Bearer ${token}` };
  const path = "/v1/projects/demo/runs/py/artifacts/latest.pt";
  expect((await rawRequest(stack.url, { method: "PUT", path, headers: auth, body: bytes })).status).toBe(202);
  const wait = await rawRequest(stack.url, { method: "POST", path: "/v1/projects/demo/runs/py/wait", headers: auth });
  expect(wait.json?.done).toBe(true);
}

/** Answers of the content route counted by the gateway, by status. */
async function contentAnswers(): Promise<Record<string, number>> {
  const text = (await rawRequest(stack.url, { method: "GET", path: "/metrics" })).body.toString();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^artifact_bus_gateway_requests_total\{([^}]*)\} (\d+)/gm)) {
    if (!m[1]?.includes('method="GET"') || !m[1].includes("artifacts/*")) continue;
    const status = /status="(\d+)"/.exec(m[1])?.[1] ?? "?";
    out[status] = (out[status] ?? 0) + Number(m[2]);
  }
  return out;
}

describe("Python client download resuming across a new version", () => {
  it("sends If-Range with the ETag of its partial file and starts over on the 200", async () => {
    const older = randomBytes(300_000);
    await logAndLand(older);
    const out = join(stack.bus.dir, "latest.pt");
    // An interrupted download of the older version: its first bytes and the ETag they are of.
    const python = (code: string) =>
      promisify(execFile)(PYTHON, ["-c", code, out], {
        cwd: CLIENT,
        env: { ...process.env, PYTHONPATH: CLIENT, ARTIFACT_BUS_URL: stack.url, ARTIFACT_BUS_TOKEN: token },
        timeout: 120_000,
      });
    const download = [
      "import sys",
      "from artifact_bus import ArtifactClient",
      "c = ArtifactClient.from_env(project='demo', run='py')",
      "c.download('latest.pt', sys.argv[1], overwrite=True)",
      "c.close(timeout=10)",
    ].join("\n");
    await python(download);
    expect(sha256(readFileSync(out))).toBe(sha256(older));
    writeFileSync(`${out}.part`, older.subarray(0, 100_000));
    writeFileSync(`${out}.part.etag`, `"${sha256(older)}"`);

    const newer = randomBytes(300_000);
    await logAndLand(newer);
    const before = await contentAnswers();
    await python(download);
    expect(sha256(readFileSync(out))).toBe(sha256(newer));
    const after = await contentAnswers();
    // One whole answer, and no slice of the new version fetched to append to the old one.
    expect({
      200: (after["200"] ?? 0) - (before["200"] ?? 0),
      206: (after["206"] ?? 0) - (before["206"] ?? 0),
    }).toEqual({ 200: 1, 206: 0 });
    expect(existsSync(`${out}.part`) || existsSync(`${out}.part.etag`)).toBe(false);
  });
});
