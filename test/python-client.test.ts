/**
 * The Python client (clients/python, standard library only) against a real stack: its unittest
 * suite runs in the Debian python3 on every transport the stack serves, and what it says it
 * logged is checked here independently, by GET and hash of the S3 objects.
 */
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { eventually, sha256 } from "@artifact-bus/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Stack } from "./harness/s3-stack.ts";

const CLIENT = resolve(import.meta.dirname, "../clients/python");
/** Debian's python3, which the client targets (pyenv's or another is used only where it is missing). */
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
let stack: S3Stack;
let outDir: string;

beforeAll(async () => {
  stack = await S3Stack.start();
  await stack.bus.startUploader();
  outDir = join(stack.bus.dir, "python-out");
  mkdirSync(outDir);
});
afterAll(async () => {
  await stack?.dispose();
});

/** Runs python3 with the stack described in its environment; rejects with its output on failure. */
async function python(args: string[]) {
  const env = {
    ...process.env,
    PYTHONPATH: CLIENT,
    TRANSPORTS: "nats",
    ARTIFACT_BUS_NATS_URL: stack.bus.nats.url,
    ARTIFACT_BUS_STAGING_DIR: stack.bus.config.staging.dir,
    OUT_DIR: outDir,
  };
  try {
    return await promisify(execFile)(PYTHON, args, { cwd: CLIENT, env, timeout: 600_000, maxBuffer: 1 << 24 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`python3 ${args.join(" ")} failed:\n${e.stdout}\n${e.stderr}`);
  }
}

/** Every S3 object a Python test said it logged, read back and hashed. */
async function checkRecorded(prefix: string) {
  const files = readdirSync(outDir).filter((f) => f.startsWith(prefix));
  expect(files.length).toBeGreaterThan(0);
  for (const f of files) {
    const logged = JSON.parse(readFileSync(join(outDir, f), "utf8")) as Record<string, string>;
    for (const [key, hash] of Object.entries(logged)) {
      const got = await eventually(() => stack.getObject(key), 60_000, `s3 object ${key}`);
      expect(sha256(got), key).toBe(hash);
    }
  }
}

describe("the Python client", () => {
  it("installs with pip from its folder (no dependencies), and its CLI answers", async () => {
    const work = mkdtempSync(join(tmpdir(), "artifact-bus-pip-"));
    cpSync(CLIENT, join(work, "src"), { recursive: true, filter: (p) => !p.includes("__pycache__") });
    const target = join(work, "site");
    // --no-build-isolation: no package index here; Debian's setuptools builds it.
    await promisify(execFile)(PYTHON, [
      "-m",
      "pip",
      "install",
      "--no-build-isolation",
      "--no-deps",
      "--target",
      target,
      join(work, "src"),
    ]);
    const run = (args: string[]) =>
      promisify(execFile)(PYTHON, args, { cwd: work, env: { ...process.env, PYTHONPATH: target } });
    expect((await run(["-c", "import artifact_bus; print(artifact_bus.__version__)"])).stdout.trim()).toBe("0.1.0");
    expect((await run(["-m", "artifact_bus", "--help"])).stdout).toMatch(/put.*get.*status.*wait/s);
    // No transport configured: a usage error (2) naming the variables, not a stack trace.
    const noConfig = await run(["-m", "artifact_bus", "put", "x"]).catch((e: { code: number; stderr: string }) => e);
    expect(noConfig).toMatchObject({ code: 2, stderr: expect.stringMatching(/ARTIFACT_BUS_URL/) });
  });

  it("passes its unittest suite, and what it logged is in S3 byte for byte", async () => {
    const run = await python(["-m", "unittest", "discover", "-s", "tests", "-t", ".", "-p", "test_*.py", "-v"]);
    expect(run.stderr).toMatch(/\nOK\b/);
    await checkRecorded("training_loop_");
    await checkRecorded("composer_");
  }, 900_000);

  it("close(timeout) with the destination down names what is pending, and it all lands after recovery", async () => {
    await stack.s3.stop();
    try {
      await python(["-m", "unittest", "tests.down_close_timeout", "-v"]);
    } finally {
      await stack.s3.restart();
    }
    await checkRecorded("down_");
  }, 300_000);
});
