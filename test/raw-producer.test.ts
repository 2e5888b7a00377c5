/**
 * docs/producers.md is enough to produce from another language: its key test vectors are the
 * TypeScript implementation's, and a Python producer written from it alone (no project code, the
 * standard library only) gets its events uploaded, byte for byte.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { type ArtifactEventV1, artifactKey } from "@artifact-bus/shared";
import { sha256 } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Stack } from "./harness/s3-stack.ts";

const DOC = resolve(import.meta.dirname, "../docs/producers.md");
let stack: S3Stack;

beforeAll(async () => {
  stack = await S3Stack.start();
});
afterAll(async () => {
  await stack?.dispose();
});

describe("docs/producers.md", () => {
  it("its key test vectors are what the TypeScript implementation derives", () => {
    const section = readFileSync(DOC, "utf8").split("Test vectors")[1]!.split("\n\n**")[0]!;
    const rows = [...section.matchAll(/^\|\s*`([^`]+)`\s*\|\s*`([a-z2-7]{26})`\s*\|$/gm)];
    expect(rows).toHaveLength(3);
    for (const [, name, key] of rows) expect(artifactKey(name!), name).toBe(key);
  });

  it("a Python producer written from it alone gets its events uploaded", async () => {
    const uploader = await stack.bus.startUploader();
    const out = join(stack.bus.dir, "published.json");
    const script = resolve(import.meta.dirname, "python/test_raw_producer.py");
    await promisify(execFile)(existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3", [script], {
      env: { ...process.env, NATS_URL: stack.bus.nats.url, STAGING_DIR: stack.bus.config.staging.dir, OUT: out },
      timeout: 120_000,
    });
    const published = JSON.parse(readFileSync(out, "utf8")) as (ArtifactEventV1 & { location: string })[];
    expect(published).toHaveLength(3);
    for (const e of published) {
      const key = `${e.project}/${e.run}/${e.name}`;
      expect(e.location).toBe(`s3://${stack.bucket}/${key}`);
      expect(sha256((await stack.getObject(key))!)).toBe(e.blob.sha256);
    }
    await uploader.kill("SIGTERM");
  });
});
