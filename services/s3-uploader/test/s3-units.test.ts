/** Pure parts of the S3 destination: options, metadata encoding, error classification. */

import {
  DEFAULT_PATH_TEMPLATE,
  DestinationError,
  describeError,
  PermanentError,
  TransientError,
} from "@artifact-bus/shared";
import { describe, expect, it } from "vitest";
import { redact, retryAfterMs, s3Error } from "../src/s3-errors.ts";
import { METADATA_LIMIT_BYTES, metadataKey, metadataValue, objectMetadata } from "../src/s3-metadata.ts";
import { parseS3Options, S3OptionsError } from "../src/s3-options.ts";
import { buffersForCutoff, MAX_PARTS, PartBuffers, partSizeFor } from "../src/s3-part-buffers.ts";

const MiB = 1024 * 1024;

describe("parseS3Options", () => {
  it("fills defaults and takes the region from the AWS environment", () => {
    const o = parseS3Options("s3:main", { bucket: "artifacts" }, { AWS_REGION: "eu-west-1" });
    expect(o).toMatchObject({
      bucket: "artifacts",
      prefix: "",
      keyTemplate: DEFAULT_PATH_TEMPLATE,
      region: "eu-west-1",
      forcePathStyle: false,
      partSizeBytes: 8 * MiB,
      queueSize: 4,
      uploadCutoffBytes: 64 * MiB,
      partBuffers: 8,
    });
    expect(o.endpoint).toBeUndefined();
    expect(parseS3Options("s3:main", { bucket: "artifacts" }, {}).region).toBe("us-east-1");
    expect(parseS3Options("s3:main", { bucket: "abc", region: "ap-south-1" }, { AWS_REGION: "x" }).region).toBe(
      "ap-south-1",
    );
  });

  it("sizes the part buffer pool to hold one whole PUT of the cutoff, unless given", () => {
    const pool = (o: Record<string, unknown>) => parseS3Options("s3:main", { bucket: "abc", ...o }, {}).partBuffers;
    expect(pool({})).toBe(8); // 64 MiB in 8 MiB parts; queueSize + 3 would be 7
    expect(pool({ partSizeBytes: 5 * MiB })).toBe(13);
    expect(pool({ queueSize: 10 })).toBe(13); // queueSize + 3 when more
    expect(pool({ uploadCutoffBytes: 0 })).toBe(7); // no whole PUT from the pool
    expect(pool({ uploadCutoffBytes: 8 * MiB - 1 })).toBe(7);
    expect(pool({ uploadCutoffBytes: 200 * MiB })).toBe(25);
    expect(pool({ partBuffers: 8 })).toBe(8);
    expect(pool({ uploadCutoffBytes: 16 * MiB, partBuffers: 2 })).toBe(2);
    expect(buffersForCutoff(64 * MiB, 8 * MiB)).toBe(8);
    expect(buffersForCutoff(64 * MiB + 1, 8 * MiB)).toBe(9);
  });

  it.each([
    [{}, /options\.bucket/],
    [{ bucket: "abc", uploadCutoffBytes: -1 }, /options\.uploadCutoffBytes/],
    [{ bucket: "abc", uploadCutoffBytes: 6 * 1024 * MiB }, /options\.uploadCutoffBytes/],
    [{ bucket: "abc", partBuffers: 0 }, /options\.partBuffers/],
    [{ bucket: "abc", partBuffers: 7 }, /options\.partBuffers: 7 buffers cannot hold .* at least 8/],
    [{ bucket: "abc", partSizeBytes: 5 * MiB, partBuffers: 12 }, /options\.partBuffers: .* at least 13/],
    [{ bucket: "ab" }, /options\.bucket/],
    [{ bucket: "a/b/c" }, /options\.bucket/],
    [{ bucket: "abc", partSizeBytes: MiB }, /options\.partSizeBytes/],
    [{ bucket: "abc", queueSize: 0 }, /options\.queueSize/],
    [{ bucket: "abc", prefix: "../up" }, /options\.prefix/],
    [{ bucket: "abc", keyTemplate: "{run}" }, /options\.keyTemplate/],
    [{ bucket: "abc", endpoint: "ftp://x" }, /options\.endpoint/],
    [{ bucket: "abc", endpoint: "http://user:pw@minio:9000" }, /options\.endpoint.*credentials/],
    [{ bucket: "abc", secretKey: "typo" }, /options\.secretKey: unknown option; known: bucket, /],
  ])("rejects %j naming the field", (input, message) => {
    expect(() => parseS3Options("s3:main", input, {})).toThrow(S3OptionsError);
    expect(() => parseS3Options("s3:main", input, {})).toThrow(message);
    expect(() => parseS3Options("s3:main", input, {})).not.toThrow(/typo/);
  });

  it.each(["accessKeyId", "secretAccessKey", "sessionToken", "credentials"])(
    "refuses %s without echoing it",
    (field) => {
      const run = () => parseS3Options("s3:main", { bucket: "abc", [field]: "SECRET-VALUE-123" }, {});
      expect(run).toThrow(new RegExp(`options\\.${field}: credentials do not belong`));
      expect(run).not.toThrow(/SECRET-VALUE-123/);
    },
  );
});

describe("object metadata", () => {
  it("keeps printable ASCII and encodes the rest so decodeURIComponent restores every value", () => {
    for (const v of ["plain", "a b", "", "ünï ☃", " lead", "trail ", "100%", "tab\there"]) {
      const encoded = metadataValue(v);
      expect(encoded).toMatch(/^[\x20-\x7e]*$/);
      expect(decodeURIComponent(encoded)).toBe(v);
    }
    expect(metadataValue("a b")).toBe("a b");
    expect(metadataKey("Mixed Key/ü")).toBe("mixed%20key%2F%C3%BC");
  });

  it("sets the reserved keys, which event metadata cannot override, and drops what passes 2 KB", () => {
    const big = "x".repeat(1000);
    const { metadata, dropped } = objectMetadata({
      id: "event-0001",
      name: "ckpt.pt",
      blob: { store: "fs", ref: "r", size: 1, sha256: "a".repeat(64) },
      metadata: { "artifact-sha256": "forged", a: big, b: big, c: big },
    });
    expect(metadata["artifact-sha256"]).toBe("a".repeat(64));
    expect(metadata["artifact-event-id"]).toBe("event-0001");
    expect(metadata["artifact-name"]).toBe("ckpt.pt");
    expect(metadata.a).toBe(big);
    expect(dropped).toEqual(["artifact-sha256", "b", "c"]);
    const total = Object.entries(metadata).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
    expect(total).toBeLessThanOrEqual(METADATA_LIMIT_BYTES);
  });
});

/** An error shaped as the SDK throws it for an HTTP answer. */
function sdkError(name: string, status: number, headers: Record<string, string> = {}, message = `${name} message`) {
  return Object.assign(new Error(message), {
    name,
    $fault: status >= 500 ? "server" : "client",
    $metadata: { httpStatusCode: status, requestId: "req-1" },
    $response: { statusCode: status, headers },
  });
}

describe("s3Error", () => {
  it.each([
    ["ECONNREFUSED", Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" })],
    ["ECONNRESET", Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })],
    [
      "AggregateError of ECONNREFUSED",
      Object.assign(new AggregateError([Object.assign(new Error("x"), { code: "ECONNREFUSED" })], ""), {}),
    ],
    ["TimeoutError", Object.assign(new Error("requestTimeout"), { name: "TimeoutError", code: "ETIMEDOUT" })],
    ["AbortError not from our signal", Object.assign(new Error("Request aborted"), { name: "AbortError" })],
    ["500", sdkError("InternalError", 500)],
    ["503 SlowDown", sdkError("SlowDown", 503)],
    ["429", sdkError("Unknown", 429)],
    ["RequestTimeout", sdkError("RequestTimeout", 400)],
    ["ThrottlingException", sdkError("ThrottlingException", 400)],
    ["unparseable 502", Object.assign(new Error("XML parse error"), { $metadata: { httpStatusCode: 502 } })],
  ])("%s is transient", (_label, err) => {
    expect(s3Error(err, "PutObject s3://b/k")).toBeInstanceOf(TransientError);
  });

  it.each([
    ["InvalidAccessKeyId", 403],
    ["SignatureDoesNotMatch", 403],
    ["AccessDenied", 403],
    ["NoSuchBucket", 404],
    ["AllAccessDisabled", 403],
    ["InvalidBucketName", 400],
    ["ExpiredToken", 400],
    ["Unknown", 403],
  ])("%s (%i) breaks the destination: it pauses rather than dead-letter every object", (name, status) => {
    expect(s3Error(sdkError(name, status), "op")).toBeInstanceOf(DestinationError);
  });

  it.each([
    ["NotFound", 404],
    ["SomethingNew", 409],
    ["KeyTooLongError", 400],
    ["BadDigest", 400],
  ])("%s (%i) is permanent for the object", (name, status) => {
    expect(s3Error(sdkError(name, status), "op")).toBeInstanceOf(PermanentError);
  });

  it("keeps Retry-After, in seconds or as a date", () => {
    const seconds = s3Error(sdkError("SlowDown", 503, { "retry-after": "3" }), "op") as TransientError;
    expect(seconds.retryAfterMs).toBe(3000);
    const now = Date.parse("2030-01-01T00:00:00Z");
    expect(retryAfterMs(sdkError("SlowDown", 503, { "retry-after": "Tue, 01 Jan 2030 00:00:10 GMT" }), now)).toBe(
      10_000,
    );
    expect(retryAfterMs(sdkError("SlowDown", 503))).toBeUndefined();
  });

  it("names operation, code, status and request id, and passes classified errors through", () => {
    const err = s3Error(sdkError("AccessDenied", 403), "PutObject s3://b/k");
    expect(err.message).toBe("PutObject s3://b/k: AccessDenied, HTTP 403, request req-1: AccessDenied message");
    const known = new TransientError("already classified");
    expect(s3Error(known, "op")).toBe(known);
  });

  it("never carries signatures, credentials or access key ids", () => {
    const leaky = sdkError(
      "AccessDenied",
      403,
      {},
      "denied for AKIAABCDEFGHIJKLMNOP at https://b.s3/k?X-Amz-Credential=AKIAABCDEFGHIJKLMNOP%2F2024&X-Amz-Signature=deadbeef Credential=AKIA/x, Signature=abc",
    );
    const text = describeError(s3Error(leaky, "op"));
    expect(text).not.toMatch(/AKIAABCDEFGHIJKLMNOP|deadbeef|Signature=abc/);
    expect(redact("X-Amz-Security-Token=tok123&x=1")).toBe("X-Amz-Security-Token=[redacted]&x=1");
  });
});

describe("partSizeFor", () => {
  const MiB = 1024 * 1024;
  it("keeps the configured size while the parts fit, and grows by whole MiB past S3's 10,000 parts", () => {
    expect(partSizeFor(8 * MiB * MAX_PARTS, 8 * MiB)).toBe(8 * MiB);
    expect(partSizeFor(8 * MiB * MAX_PARTS + 1, 8 * MiB)).toBe(9 * MiB);
    const size = 200 * 1024 ** 3; // a 200 GiB checkpoint
    const part = partSizeFor(size, 8 * MiB);
    expect(part % MiB).toBe(0);
    expect(Math.ceil(size / part)).toBeLessThanOrEqual(MAX_PARTS);
    expect(Math.ceil(size / (part - MiB))).toBeGreaterThan(MAX_PARTS);
  });
});

describe("PartBuffers: one pool of part buffers for all uploads of a destination", () => {
  it("hands out at most `limit` buffers; the next taker waits for one given back, an aborted one steps out", async () => {
    const pool = new PartBuffers(1024, 2);
    const live = new AbortController().signal;
    const a = await pool.take(live);
    const b = await pool.take(live);
    const aborted = new AbortController();
    const gaveUp = pool.take(aborted.signal);
    let third: Buffer | undefined;
    const waiting = pool.take(live).then((buf) => (third = buf));
    aborted.abort(new Error("upload stopped"));
    await expect(gaveUp).rejects.toThrow("upload stopped");
    await Promise.resolve();
    expect(third).toBeUndefined();
    pool.give(a); // must reach the live waiter, not the aborted one
    await waiting;
    expect(third).toBe(a);
    pool.give(b);
    expect(await pool.take(live)).toBe(b);
  });

  it("takeMany takes a whole PUT's buffers at once, one such taker at a time, while single takers come and go", async () => {
    const pool = new PartBuffers(1024, 3);
    const live = new AbortController().signal;
    const part = await pool.take(live);
    let first: Buffer[] | undefined;
    const whole = pool.takeMany(3, live).then((bufs) => (first = bufs));
    const second = pool.takeMany(2, live);
    await new Promise((r) => setTimeout(r, 10));
    expect(first).toBeUndefined(); // 2 free, 3 needed: waits for the part's buffer
    pool.give(part);
    await whole;
    expect(first).toHaveLength(3);
    expect(new Set(first).size).toBe(3);
    for (const b of first!) pool.give(b);
    expect(await second).toHaveLength(2);
  });

  it("takeMany: more than the pool holds is refused, not waited for; an abort gives back what it took", async () => {
    const pool = new PartBuffers(1024, 2);
    const live = new AbortController().signal;
    await expect(pool.takeMany(3, live)).rejects.toBeInstanceOf(RangeError);
    const held = await pool.take(live);
    const aborted = new AbortController();
    const gaveUp = pool.takeMany(2, aborted.signal);
    // A taker queued behind the aborted one still gets its turn.
    const next = pool.takeMany(2, live);
    await new Promise((r) => setTimeout(r, 10));
    aborted.abort(new Error("upload stopped"));
    await expect(gaveUp).rejects.toThrow("upload stopped");
    pool.give(held);
    expect(await next).toHaveLength(2);
  });
});
