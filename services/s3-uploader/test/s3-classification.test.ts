/**
 * How the S3 destination classifies what goes wrong, against s3rver in its own process and
 * canned answers from a capture proxy: credentials, buckets, error codes, a vanished blob and
 * a killed server.
 */
import { randomBytes } from "node:crypto";
import { Transform } from "node:stream";
import { DestinationError, describeError, PermanentError, TransientError } from "@artifact-bus/shared";
import { fileArtifact, testContext, uniqueRun } from "@artifact-bus/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { s3ErrorResponse } from "./capture-proxy.ts";
import { MiB, S3Fixture } from "./s3-fixture.ts";

let f: S3Fixture;

beforeAll(async () => {
  f = await S3Fixture.start("s3-classification-tests");
});

afterEach(() => f.proxy.reset());

afterAll(async () => {
  await f?.dispose();
});

describe("classification", () => {
  it("an unknown access key breaks the destination (upload and probe), and no message shows a credential", async () => {
    // s3rver checks the key id only; it does not verify SigV4 signatures (see the table below).
    const dest = f.destination({}, { accessKeyId: "AKIAWRONGWRONGWRONG0", secretAccessKey: "not-the-secret-xyz" });
    const err = await dest.upload(await fileArtifact(f.dir, "c.bin", randomBytes(10)), testContext()).catch((e) => e);
    expect(err, describeError(err)).toBeInstanceOf(DestinationError);
    expect(describeError(err)).toMatch(/InvalidAccessKeyId/);
    expect(describeError(err)).not.toMatch(/not-the-secret-xyz|AKIAWRONGWRONGWRONG0/);
    const probeErr = await dest.probe(AbortSignal.timeout(5000)).catch((e) => e);
    expect(probeErr).toBeInstanceOf(DestinationError);
    expect(describeError(probeErr)).not.toMatch(/not-the-secret-xyz|AKIAWRONGWRONGWRONG0/);
  });

  // HEAD answers have no body, so a probe sees only the status: 400 alone is permanent, 403 the
  // destination's trouble.
  it.each([
    [403, "SignatureDoesNotMatch", "destination", "destination"],
    [403, "AccessDenied", "destination", "destination"],
    [403, "AllAccessDisabled", "destination", "destination"],
    [400, "InvalidBucketName", "destination", "permanent"],
    [400, "SomethingNew", "permanent", "permanent"],
    [301, "PermanentRedirect", "destination", "permanent"],
    [500, "InternalError", "transient", "transient"],
    [503, "SlowDown", "transient", "transient"],
    [429, "TooManyRequests", "transient", "transient"],
    [400, "RequestTimeout", "transient", "permanent"],
  ])("a %i %s answer is %s for upload, %s for probe", async (status, code, onUpload, onProbe) => {
    const cls = { permanent: PermanentError, transient: TransientError, destination: DestinationError };
    f.proxy.intercept = () => s3ErrorResponse(status, code);
    const dest = f.destination();
    const err = await dest.upload(await fileArtifact(f.dir, "e.bin", randomBytes(10)), testContext()).catch((e) => e);
    expect(err, describeError(err)).toBeInstanceOf(cls[onUpload as keyof typeof cls]);
    expect((err as Error).message).toContain(code);
    await expect(dest.probe(AbortSignal.timeout(5000))).rejects.toBeInstanceOf(cls[onProbe as keyof typeof cls]);
  });

  it.each([
    ["small", 10],
    ["multipart", 6 * MiB],
  ])("a missing bucket breaks the destination (%s upload), and its probe fails", async (_kind, size) => {
    const dest = f.destination({ bucket: `missing-${uniqueRun()}` });
    const err = await dest.upload(await fileArtifact(f.dir, "b.bin", randomBytes(size)), testContext()).catch((e) => e);
    expect(err).toBeInstanceOf(DestinationError);
    expect((err as Error).message).toMatch(/NoSuchBucket/);
    await expect(dest.probe(AbortSignal.timeout(5000))).rejects.toBeInstanceOf(PermanentError);
  });

  it("a blob stream failing mid-read with a PermanentError (as the runtime types a vanished blob) is permanent", async () => {
    const artifact = await fileArtifact(f.dir, "gone.bin", randomBytes(6 * MiB), {
      wrap: (s) => {
        let seen = 0;
        const t = new Transform({
          transform(chunk: Buffer, _e, cb) {
            seen += chunk.length;
            cb(seen > MiB ? new PermanentError("blob missing: removed mid-read") : null, chunk);
          },
        });
        return s.pipe(t);
      },
    });
    const dest = f.destination();
    await expect(dest.upload(artifact, testContext())).rejects.toBeInstanceOf(PermanentError);
    expect(await f.readObject(dest.keyOf(artifact.event))).toBeUndefined();
  });

  it("a killed server is transient for upload and probe", async () => {
    const dest = f.destination({ endpoint: f.server.endpoint, connectTimeoutMs: 1000 });
    await f.server.kill();
    try {
      const err = await dest.upload(await fileArtifact(f.dir, "k.bin", randomBytes(10)), testContext()).catch((e) => e);
      expect(err).toBeInstanceOf(TransientError);
      expect((err as Error).message).toMatch(/ECONNREFUSED/);
      await expect(dest.probe(AbortSignal.timeout(5000))).rejects.toBeInstanceOf(TransientError);
    } finally {
      await f.server.restart();
    }
    await dest.probe(AbortSignal.timeout(5000));
  });
});
