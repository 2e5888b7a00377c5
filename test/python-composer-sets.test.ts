/**
 * Composer's sharded checkpoints through the Python drop-in (clients/python/tests/composer_sharded.py)
 * against a real stack whose S3 destination writes Composer's symlinks as the sets' pointers
 * (`setPointer: "{dir}/latest-rank{rank}.pt.symlink"`): nats-server, the S3 server, an S3
 * uploader and the gateway, each in its own process. What the Python test says landed is read
 * back here from S3 independently: the last checkpoint's shards, its `.metadata`, and one
 * symlink per rank naming it.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { sha256 } from "@artifact-bus/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";

const CLIENT = resolve(import.meta.dirname, "../clients/python");
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
let gw: GatewayStack;
let outDir: string;
let token: string;

beforeAll(async () => {
  gw = await GatewayStack.start({ destination: { setPointer: "{dir}/latest-rank{rank}.pt.symlink" } });
  token = gw.token(["pyclient"], ["publish", "read"]);
  await gw.reload();
  outDir = join(gw.bus.dir, "python-out");
  mkdirSync(outDir);
});
afterAll(async () => {
  await gw?.dispose();
});

/** Runs Python test module `module` (clients/python/tests) against the stack; its stderr. */
async function runPython(module: string): Promise<string> {
  const env = {
    ...process.env,
    PYTHONPATH: CLIENT,
    TRANSPORTS: "nats,http",
    ARTIFACT_BUS_NATS_URL: gw.bus.nats.url,
    ARTIFACT_BUS_STAGING_DIR: gw.bus.config.staging.dir,
    ARTIFACT_BUS_URL: gw.url,
    ARTIFACT_BUS_TOKEN: token,
    ARTIFACT_BUS_SPOOL_DIR: join(gw.bus.dir, "python-spool"), // not the user's default spool
    OUT_DIR: outDir,
  };
  const run = await promisify(execFile)(PYTHON, ["-m", "unittest", module, "-v"], {
    cwd: CLIENT,
    env,
    timeout: 600_000,
  }).catch((err: { stdout?: string; stderr?: string }) => {
    throw new Error(`the Python test failed:\n${err.stdout}\n${err.stderr}`);
  });
  return run.stderr;
}

it("two ranks save sharded checkpoints; the symlinks name the last complete one only; a resumed run gets its shards", async () => {
  const stderr = await runPython("tests.composer_sharded");
  expect(stderr).toMatch(/Ran 2 tests[\s\S]*\nOK\b/);
  const files = readdirSync(outDir).filter((f) => f.startsWith("composer_sharded_"));
  expect(files.sort()).toEqual(["composer_sharded_http.json", "composer_sharded_nats.json"]);
  for (const f of files) {
    const logged = JSON.parse(readFileSync(join(outDir, f), "utf8")) as Record<string, string>;
    const keys = Object.keys(logged);
    expect(keys.filter((k) => k.endsWith("/.metadata"))).toHaveLength(1);
    expect(keys.filter((k) => k.endsWith(".pt.symlink"))).toHaveLength(2);
    for (const [key, hash] of Object.entries(logged)) {
      expect(sha256((await gw.s3.getObject(key)) ?? Buffer.alloc(0)), key).toBe(hash);
    }
  }
}, 900_000);

it("a non-sharded checkpoint (both generations, and saved again under its name) and a sharded one through log_symlink_artifact save and resume through the symlinks", async () => {
  const stderr = await runPython("tests.composer_plain");
  expect(stderr).toMatch(/Ran 5 tests[\s\S]*\nOK\b/);
  // Read back from S3 independently: the last checkpoint where Composer put it, the symlink the
  // destination wrote naming it, and no manifest (one under the checkpoint's name cannot be a file's sibling).
  const files = readdirSync(outDir).filter((f) => f.startsWith("composer_plain_"));
  expect(files).toHaveLength(4);
  for (const f of files) {
    const logged = JSON.parse(readFileSync(join(outDir, f), "utf8")) as Record<string, string>;
    for (const [key, hash] of Object.entries(logged)) {
      expect(sha256((await gw.s3.getObject(key)) ?? Buffer.alloc(0)), key).toBe(hash);
    }
    const checkpoint = Object.keys(logged).find((k) => k.endsWith("-rank0.pt"));
    expect(await gw.s3.getObject(`${checkpoint}/_set-manifest.json`)).toBeUndefined();
  }
}, 900_000);
