/**
 * The W&B destination reads a blob checked once: its sha256 is verified during the MD5 pass, and
 * the send that follows reads unchecked, storage's Content-MD5 check standing in for a second
 * sha256. Against the strict API double, whose storage refuses a body that does not match its
 * Content-MD5 (BadDigest), as GCS and S3 signed URLs do. What a user notices: a corrupt blob
 * reaches nothing, a blob changed between the passes is dead-lettered (PermanentError) and never
 * committed, and a refusal of bytes that still match is retried.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Artifact, PermanentError, silentLogger, TransientError } from "@artifact-bus/shared";
import { localFileArtifact, testContext, uniqueRun, WandbDouble, writeLargeFile } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WandbDestination } from "../src/wandb-destination.ts";

const MiB = 1024 * 1024;
let double: WandbDouble;
let dir: string;
let n = 0;

beforeAll(async () => {
  double = await WandbDouble.start();
  dir = mkdtempSync(join(tmpdir(), "wandb-checked-read-"));
});
afterAll(async () => {
  await double?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// Up to 8 MiB a blob is read once, whole, and sent from memory; above, it is streamed (one PUT
// below multipartThresholdBytes, parts from it: here from 6 MiB, in 5 MiB parts).
const paths = [
  ["in memory", 3 * MiB],
  ["streamed, one PUT", 9 * MiB + 7],
  ["streamed, multipart", 11 * MiB + 7],
] as const;

function destination(): WandbDestination {
  const options = {
    baseUrl: double.baseUrl,
    entity: "team",
    retries: 0,
    multipartThresholdBytes: 10 * MiB,
    partSizeBytes: 5 * MiB,
  };
  return new WandbDestination({ name: `wandb:read${++n}`, options, apiKey: double.apiKey, log: silentLogger });
}

/** A staged file of `size` random bytes; `event` says what they were when staged. */
async function staged(size: number, name: string): Promise<{ path: string; artifact: Artifact }> {
  const path = join(dir, `${name}-${++n}`);
  const hash = await writeLargeFile(path, size);
  return { path, artifact: localFileArtifact(path, size, hash, { project: "reads", run: uniqueRun(), name }) };
}

/** Rewrites one byte of the file in place. */
async function flipByte(path: string, at: number): Promise<void> {
  const file = await open(path, "r+");
  try {
    const b = Buffer.alloc(1);
    await file.read(b, 0, 1, at);
    b[0] = b[0]! ^ 0xff;
    await file.write(b, 0, 1, at);
  } finally {
    await file.close();
  }
}

/** `artifact`, its file rewritten at `at` right before its second read opens. */
function changedBeforeSecondRead(artifact: Artifact, path: string, at: number): Artifact {
  let opens = 0;
  return {
    ...artifact,
    openReader: async (signal, options) => {
      if (++opens === 2) await flipByte(path, at);
      return artifact.openReader(signal, options);
    },
  };
}

const requestsSince = async (since: number) => (await double.requests()).filter((r) => r.at >= since);
const versions = (a: Artifact) => double.versions("team", a.event.project, a.event.name);

describe("wandb destination: one checked read", () => {
  it.each(paths)(
    "a staged blob that no longer matches its sha256 (%s) fails before anything reaches W&B",
    async (_p, size) => {
      const d = destination();
      const { path, artifact } = await staged(size, "corrupt.pt");
      await flipByte(path, size - 1);
      const since = Date.now();
      const failed = d.upload(artifact, testContext());
      await expect(failed).rejects.toThrow(PermanentError);
      await expect(failed).rejects.toThrow(/sha256/);
      expect(await requestsSince(since)).toEqual([]);
      await d.close();
    },
  );

  it.each(paths.slice(1))(
    "a byte changed between the MD5 pass and the send (%s): storage refuses it, dead-lettered as corrupt, never committed",
    async (_p, size) => {
      const d = destination();
      const { path, artifact } = await staged(size, `changed-${size}.pt`);
      const since = Date.now();
      const failed = d.upload(changedBeforeSecondRead(artifact, path, size - 3), testContext());
      await expect(failed).rejects.toThrow(PermanentError);
      await expect(failed).rejects.toThrow(/HTTP 400: the staged blob changed since it was checked: .*sha256/);
      const storage = (await requestsSince(since)).filter((r) => r.kind === "storage");
      expect(storage.map((r) => r.status)).toContain(400);
      expect(await versions(artifact)).toEqual([]);
      await d.close();
    },
  );

  it.each(paths.slice(1))(
    "storage refusing bytes of a blob that still matches (%s) is retried, and the retry lands them",
    async (_p, size) => {
      const d = destination();
      const { artifact } = await staged(size, `spoiled-${size}.pt`);
      const body =
        "<Error><Code>BadDigest</Code><Message>The Content-MD5 you specified did not match</Message></Error>";
      await double.fault({ target: "storage", times: 1, status: 400, body });
      const failed = d.upload(artifact, testContext());
      await expect(failed).rejects.toThrow(TransientError);
      await expect(failed).rejects.toThrow(/still matches its sha256/);
      await d.upload(artifact, testContext());
      const landed = await versions(artifact);
      expect(landed).toHaveLength(1);
      expect(landed[0]?.files[0]?.sha256).toBe(artifact.event.blob.sha256);
      await d.close();
    },
  );
});
