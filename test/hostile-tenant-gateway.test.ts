/**
 * What the HTTP gateway refuses a hostile tenant, under the committed sample permissions, with
 * the gateway in its own process. Two projects share one trainer filesystem (`files/a`,
 * `files/b`) and the bus; the gateway stages by path from `files/{project}`.
 *
 * - A token of project A stages no file of B's, in any mode, by path or through a symlink.
 * - A file the gateway's user does not own is never linked, moved or made read-only.
 * - An allowedDirs entry that every project would share stops the gateway at start-up.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GATEWAY_MAIN, GatewayStack } from "./harness/gateway-stack.ts";

const PROBLEM = "https://artifact-bus.dev/problems/";
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
let stack: GatewayStack;
let files: string;
let tokenA: string;

beforeAll(async () => {
  stack = await GatewayStack.start({ secured: true, uploader: false });
  files = stack.filesRoot;
  tokenA = stack.token(["a"], ["publish"]);
  await stack.reload();
  for (const p of ["a", "b"]) mkdirSync(join(files, p), { recursive: true });
});
afterAll(async () => stack?.dispose());

async function problem(r: Response, status: number, kind: string, field?: string) {
  const body = (await r.json()) as Record<string, unknown>;
  expect({ status: r.status, type: body.type }).toEqual({ status, type: `${PROBLEM}${kind}` });
  if (field !== undefined) expect(body.field).toBe(field);
  return body;
}

const post = (project: string, token: string, body: Record<string, unknown>) =>
  stack.fetch(`/v1/projects/${project}/runs/paths/artifacts`, token, {
    method: "POST",
    body: JSON.stringify({ name: "stolen.bin", ...body }),
    headers: { "content-type": "application/json" },
  });

/** A file of B's, 0640 as a private checkpoint would be, and how to see that nothing touched it. */
function filesOfB(name: string) {
  const path = join(files, "b", name);
  const bytes = randomBytes(100_000);
  writeFileSync(path, bytes, { mode: 0o640 });
  const untouched = () => {
    expect(existsSync(path), `${path} still there`).toBe(true);
    expect(statSync(path).mode & 0o777, `${path} keeps its mode`).toBe(0o640);
    expect(sha256(readFileSync(path))).toBe(sha256(bytes));
  };
  return { path, untouched };
}

describe("logging a file by path: a project reaches only its own directory", () => {
  it("stages A's own file, and answers 403 path-not-allowed for B's file, in every mode", async () => {
    for (const mode of ["copy", "link", "move"]) {
      const own = join(files, "a", `own-${mode}.bin`);
      writeFileSync(own, randomBytes(70_000));
      expect((await post("a", tokenA, { path: own, mode })).status, mode).toBe(202);
    }
    const b = filesOfB("secret.pt");
    for (const mode of ["copy", "link", "move"]) {
      await problem(await post("a", tokenA, { path: b.path, mode }), 403, "path-not-allowed", "path");
      b.untouched();
    }
  });

  it("refuses a symlink in A's directory to B's file, and a symlinked directory leading into B's", async () => {
    const b = filesOfB("linked.pt");
    symlinkSync(b.path, join(files, "a", "link-to-b.pt"));
    symlinkSync(join(files, "b"), join(files, "a", "dir-to-b"));
    for (const mode of ["copy", "link", "move"]) {
      for (const path of [join(files, "a", "link-to-b.pt"), join(files, "a", "dir-to-b", "linked.pt")]) {
        await problem(await post("a", tokenA, { path, mode }), 403, "path-not-allowed", "path");
        b.untouched();
      }
    }
  });

  // The suite runs as root (as the sshd tests need), so the gateway does too: chown makes a file
  // that is not the gateway's.
  it.skipIf(process.getuid?.() !== 0)(
    "links or moves only files the gateway's user owns: another user's file is refused, and copied on request",
    async () => {
      const path = join(files, "a", "other-user.pt");
      writeFileSync(path, randomBytes(100_000), { mode: 0o640 });
      chownSync(path, 65534, 65534);
      for (const mode of ["link", "move"]) {
        const body = await problem(await post("a", tokenA, { path, mode }), 403, "mode-not-allowed", "mode");
        expect(body.detail).toMatch(/owned by uid 65534/);
        expect(statSync(path).mode & 0o777).toBe(0o640);
      }
      expect((await post("a", tokenA, { path, mode: "copy" })).status).toBe(202);
      expect(statSync(path).mode & 0o777).toBe(0o640);
    },
  );

  it("does not start with an allowedDirs entry every project would share, naming the field", () => {
    const run = spawnSync(process.execPath, [GATEWAY_MAIN, "--check-config"], {
      encoding: "utf8",
      env: { ...process.env, ARTIFACT_BUS_CONFIG: stack.configPath, ARTIFACT_BUS_GATEWAY_ALLOWED_DIRS: files },
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/gateway\.allowedDirs\.0: .*\{project\}/);
  });
});
