/**
 * Whole PUTs from the shared part buffers (s3-whole-put.ts) against s3rver in its own process,
 * seen through the capture proxy: which blobs take one PutObject and which go in parts, that a
 * corrupt blob or a lost lease never reaches the key, that the SDK's retry of a failed PUT sends
 * every byte again, and that whole PUTs and multipart uploads share a pool sized to the cutoff.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  type Artifact,
  type BlobReader,
  LeaseLostError,
  PermanentError,
  TransientError,
  verifiedBytes,
  verifiedReader,
} from "@artifact-bus/shared";
import { fileArtifact, testContext, testEvent, uniqueRun } from "@artifact-bus/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { s3ErrorResponse } from "./capture-proxy.ts";
import { MiB, S3Fixture } from "./s3-fixture.ts";

const b64sha = (b: Buffer) => createHash("sha256").update(b).digest("base64");
const hexsha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
/** With the fixture's 5 MiB parts: whole PUTs take up to 3 buffers. */
const CUTOFF = 12 * MiB;

let f: S3Fixture;

beforeAll(async () => {
  f = await S3Fixture.start("s3-whole-put-tests");
});

afterEach(() => f.proxy.reset());

afterAll(async () => {
  await f?.dispose();
});

const wholePuts = () => f.proxy.find("PUT", (u) => !u.searchParams.has("partNumber"));
const parts = () => f.proxy.find("PUT", (u) => u.searchParams.has("partNumber"));
const creates = () => f.proxy.find("POST", (u) => u.searchParams.has("uploads"));

/** An artifact whose staged bytes are `staged` while its event describes `logged`, read through the runtime's check. */
function corruptArtifact(logged: Buffer, staged: Buffer): Artifact {
  const event = testEvent({ run: uniqueRun(), name: "corrupt.pt", size: logged.length, sha256: hexsha(logged) });
  const reader = (): BlobReader => {
    let pos = 0;
    return {
      fill: async (buf) => {
        const n = staged.copy(buf, 0, pos);
        pos += n;
        return n;
      },
      close: async () => {},
    };
  };
  return {
    event,
    streamSeq: 1,
    read: async () => verifiedBytes(Buffer.from(staged), event.blob.sha256, event.blob.size),
    openReader: async () => verifiedReader(reader(), event.blob.sha256, event.blob.size),
  };
}

describe("which blobs go whole", () => {
  it.each([
    ["empty", 0, "whole"],
    ["one byte", 1, "whole"],
    ["just below one part", 5 * MiB - 1, "whole"],
    ["one part exactly", 5 * MiB, "whole"],
    ["one part and a byte", 5 * MiB + 1, "whole"],
    ["just below the cutoff", CUTOFF - 1, "whole"],
    ["at the cutoff", CUTOFF, "whole"],
    ["just above the cutoff", CUTOFF + 1, "multipart"],
  ])("%s (%i bytes): %s, read back byte-identical", async (_label, size, path) => {
    const bytes = randomBytes(size);
    const artifact = await fileArtifact(f.dir, "ckpt.pt", bytes);
    const dest = f.destination({ prefix: uniqueRun(), uploadCutoffBytes: CUTOFF });
    const ctx = testContext();
    const receipt = await dest.upload(artifact, ctx);
    expect(receipt.size).toBe(size);
    if (path === "whole") {
      const [put, ...more] = wholePuts();
      expect(more).toEqual([]);
      expect(parts()).toEqual([]);
      expect(creates()).toEqual([]);
      expect(put!.headers["x-amz-checksum-sha256"]).toBe(b64sha(bytes));
      expect(put!.headers["x-amz-content-sha256"]).toBe(hexsha(bytes));
      expect(put!.headers["content-length"]).toBe(String(size));
      expect(put!.headers["content-encoding"]).toBeUndefined();
    } else {
      expect(wholePuts()).toEqual([]);
      expect(creates()).toHaveLength(1);
      expect(parts()).toHaveLength(3);
    }
    expect(ctx.visibleChecks).toBe(1);
    expect((await f.readObject(dest.keyOf(artifact.event)))!.equals(bytes)).toBe(true);
  });

  it("uploadCutoffBytes 0 sends every blob of a part or more in parts", async () => {
    const bytes = randomBytes(5 * MiB);
    const artifact = await fileArtifact(f.dir, "ckpt.pt", bytes);
    const dest = f.destination({ prefix: uniqueRun(), uploadCutoffBytes: 0 });
    await dest.upload(artifact, testContext());
    expect(wholePuts()).toEqual([]);
    expect(creates()).toHaveLength(1);
    expect((await f.readObject(dest.keyOf(artifact.event)))!.equals(bytes)).toBe(true);
  });

  it("reports progress as the PUT's bytes go out, rising to the size", async () => {
    const bytes = randomBytes(11 * MiB);
    const dest = f.destination({ prefix: uniqueRun(), uploadCutoffBytes: CUTOFF });
    const ctx = testContext();
    await dest.upload(await fileArtifact(f.dir, "ckpt.pt", bytes), ctx);
    expect(ctx.heartbeats).toEqual([5 * MiB, 10 * MiB, 11 * MiB]);
  });
});

describe("nothing reaches the key", () => {
  it.each([
    ["a whole PUT", 11 * MiB],
    ["multipart", CUTOFF + 3],
  ])("a corrupt blob (%s): PermanentError, no object", async (_label, size) => {
    const logged = randomBytes(size);
    const flipped = Buffer.from(logged);
    flipped[size - 1] = (logged[size - 1] ?? 0) ^ 1;
    // Its last byte flipped, one byte short, one byte more.
    for (const staged of [flipped, logged.subarray(0, size - 1), Buffer.concat([logged, Buffer.from([0])])]) {
      const artifact = corruptArtifact(logged, staged);
      const dest = f.destination({ prefix: uniqueRun(), uploadCutoffBytes: CUTOFF });
      const err = await dest.upload(artifact, testContext()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentError);
      expect((err as Error).message).toMatch(/staged blob/);
      expect(await f.readObject(dest.keyOf(artifact.event))).toBeUndefined();
      // The whole PUT is never sent: its bytes are checked before it goes.
      expect(wholePuts()).toEqual([]);
      f.proxy.reset();
    }
  });

  it("a lost lease (beforeVisible refusing): rejects, no PUT sent, no object, and the buffers go back", async () => {
    const dest = f.destination({ prefix: uniqueRun(), uploadCutoffBytes: CUTOFF, partBuffers: 3 });
    const bytes = randomBytes(CUTOFF);
    const artifact = await fileArtifact(f.dir, "fenced.pt", bytes);
    const lost = new LeaseLostError("test: lease lost before the visible step");
    const ctx = testContext({
      beforeVisible: async (c) => {
        c.controller.abort(lost);
        throw lost;
      },
    });
    await expect(dest.upload(artifact, ctx)).rejects.toThrow();
    expect(ctx.visibleChecks).toBe(1);
    expect(f.proxy.requests).toEqual([]);
    expect(await f.readObject(dest.keyOf(artifact.event))).toBeUndefined();
    // All 3 buffers were given back: the next whole PUT, needing all of them, does not wait forever.
    await dest.upload(artifact, testContext());
    expect((await f.readObject(dest.keyOf(artifact.event)))!.equals(bytes)).toBe(true);
  });
});

describe("retries", () => {
  it("the SDK's retry after a failed first PUT sends every byte again", async () => {
    const bytes = randomBytes(11 * MiB + 17);
    const artifact = await fileArtifact(f.dir, "retried.pt", bytes);
    const dest = f.destination({ prefix: uniqueRun(), uploadCutoffBytes: CUTOFF, maxAttempts: 2 });
    let failed = 0;
    // Answered only once the whole body arrived: the first attempt's stream is used up.
    f.proxy.intercept = (r) =>
      r.method === "PUT" && failed++ === 0 ? s3ErrorResponse(500, "InternalError") : undefined;
    const ctx = testContext();
    await dest.upload(artifact, ctx);
    const puts = wholePuts();
    expect(puts.map((p) => p.status)).toEqual([500, 200]);
    for (const p of puts) expect(p.headers["content-length"]).toBe(String(bytes.length));
    expect((await f.readObject(dest.keyOf(artifact.event)))!.equals(bytes)).toBe(true);
    // Progress never went back for the second attempt.
    expect(ctx.heartbeats).toEqual([...ctx.heartbeats].sort((a, b) => a - b));
    expect(ctx.heartbeats.at(-1)).toBe(bytes.length);
  });

  it("without SDK retries a failed PUT is a clean TransientError, no object, buffers back", async () => {
    const bytes = randomBytes(CUTOFF);
    const artifact = await fileArtifact(f.dir, "failed.pt", bytes);
    const dest = f.destination({ prefix: uniqueRun(), uploadCutoffBytes: CUTOFF, partBuffers: 3 });
    f.proxy.intercept = (r) => (r.method === "PUT" ? s3ErrorResponse(500, "InternalError") : undefined);
    const err = await dest.upload(artifact, testContext()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toMatch(/InternalError/);
    expect(await f.readObject(dest.keyOf(artifact.event))).toBeUndefined();
    f.proxy.reset();
    // The runtime's retry: a new attempt reads the blob again into the same buffers.
    await dest.upload(artifact, testContext());
    expect((await f.readObject(dest.keyOf(artifact.event)))!.equals(bytes)).toBe(true);
  });
});

describe("the shared pool", () => {
  it("whole PUTs and multipart uploads at once on a pool of exactly one whole PUT's buffers all land intact", async () => {
    // 3 buffers: one whole PUT takes all of them; parts take one each and give it back.
    const dest = f.destination({ prefix: uniqueRun(), uploadCutoffBytes: CUTOFF, partBuffers: 3, queueSize: 2 });
    const sizes = [CUTOFF, 11 * MiB, CUTOFF + 1, 6 * MiB, 16 * MiB, CUTOFF - 5, 100];
    const files = await Promise.all(
      sizes.map(async (size, i) => {
        const bytes = randomBytes(size);
        return { bytes, artifact: await fileArtifact(f.dir, `mixed-${i}.pt`, bytes) };
      }),
    );
    await Promise.all(files.map(({ artifact }) => dest.upload(artifact, testContext())));
    for (const { bytes, artifact } of files) {
      expect((await f.readObject(dest.keyOf(artifact.event)))!.equals(bytes)).toBe(true);
    }
    expect(creates()).toHaveLength(2);
    expect(wholePuts()).toHaveLength(5);
  });

  it("a pool smaller than one whole PUT is refused at construction, naming the field", () => {
    expect(() => f.destination({ uploadCutoffBytes: CUTOFF, partBuffers: 2 })).toThrow(
      /options\.partBuffers: .*at least 3/,
    );
  });
});
