/** The README's TypeScript example, run as written against the real stack. */
import { execFile } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { sha256, writeRandomFile } from "@artifact-bus/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { S3Stack } from "./harness/s3-stack.ts";

let stack: S3Stack;
beforeAll(async () => {
  stack = await S3Stack.start();
  await stack.bus.startUploader();
});
afterAll(async () => {
  await stack?.dispose();
});

it("the README example logs a checkpoint that lands in S3", async () => {
  const readme = readFileSync(resolve(import.meta.dirname, "../README.md"), "utf8");
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code, "README has a ```ts example").toBeDefined();
  // The example logs /tmp/ckpt.pt as llm/run-7; the script must sit in the repo to resolve the package.
  const data = writeRandomFile("/tmp/ckpt.pt", 256 * 1024);
  const script = resolve(import.meta.dirname, `.readme-example-${process.pid}.ts`);
  writeFileSync(script, code!);
  try {
    await promisify(execFile)(process.execPath, [script], {
      env: { ...process.env, ARTIFACT_BUS_CONFIG: stack.bus.configPath },
      timeout: 60_000,
    });
  } finally {
    rmSync(script, { force: true });
  }
  const got = await stack.getObject("llm/run-7/checkpoints/ep1-ba100-rank0.pt");
  expect(got && sha256(got)).toBe(sha256(data));
  rmSync(join("/tmp", "ckpt.pt"), { force: true });
});
