/**
 * The gateway's pure parts: event ids from Idempotency-Keys, Content-Digest, ranges, metadata,
 * problems, which destinations it reads back from.
 */
import { createHash } from "node:crypto";
import {
  BlobDigestMismatchError,
  ConfigError,
  EVENT_ID_PATTERN,
  InvalidArtifactError,
  NoDestinationError,
  silentLogger,
} from "@artifact-bus/shared";
import { describe, expect, it } from "vitest";
import { Problem, problemBody, toProblem } from "../src/problems.ts";
import { ReadBack } from "../src/read-back.ts";
import { checkMetadata, eventIdFor, sha256FromContentDigest } from "../src/request-parts.ts";
import { parseRange } from "../src/routes/content.ts";

describe("eventIdFor", () => {
  const token = "ab".repeat(32);
  it("derives a stable, valid id per (token, project, run, key), and a random one without a key", () => {
    const a = eventIdFor("demo", "r1", "step-100", token);
    expect(a).toMatch(new RegExp(EVENT_ID_PATTERN));
    expect(eventIdFor("demo", "r1", "step-100", token)).toBe(a);
    expect(eventIdFor("vision", "r1", "step-100", token)).not.toBe(a);
    expect(eventIdFor("demo", "r2", "step-100", token)).not.toBe(a);
    // Another token's key is another id: nobody without the token can compute this one.
    expect(eventIdFor("demo", "r1", "step-100", "cd".repeat(32))).not.toBe(a);
    expect(eventIdFor("demo", "r1", undefined, token)).not.toBe(eventIdFor("demo", "r1", undefined, token));
    expect(() => eventIdFor("demo", "r1", "", token)).toThrow(Problem);
    expect(() => eventIdFor("demo", "r1", "x".repeat(129), token)).toThrow(/Idempotency-Key/);
    expect(() => eventIdFor("demo", "r1", "tab\there", token)).toThrow(/printable/);
  });
});

describe("sha256FromContentDigest", () => {
  const digest = createHash("sha256").update("hello").digest();
  it("reads sha-256 among other algorithms and ignores the rest", () => {
    expect(sha256FromContentDigest(`sha-512=:AAAA:, sha-256=:${digest.toString("base64")}:`)).toBe(
      digest.toString("hex"),
    );
    // A digest the gateway cannot check is refused, never taken for checked.
    expect(() => sha256FromContentDigest("sha-512=:AAAA:")).toThrow(
      expect.objectContaining({ field: "Content-Digest" }),
    );
    expect(sha256FromContentDigest(undefined)).toBeUndefined();
  });
  it("takes the last sha-256 member, as a Structured Fields dictionary does, and refuses an empty header", () => {
    const other = createHash("sha256").update("other").digest("base64");
    const hello = `sha-256=:${digest.toString("base64")}:`;
    expect(sha256FromContentDigest(`sha-256=:${other}:, ${hello}`)).toBe(digest.toString("hex"));
    expect(sha256FromContentDigest(`${hello}, sha-256=:${other}:`)).not.toBe(digest.toString("hex"));
    for (const empty of ["", "  "]) {
      expect(() => sha256FromContentDigest(empty)).toThrow(expect.objectContaining({ field: "Content-Digest" }));
    }
  });
  it("refuses a malformed sha-256 member, naming the header", () => {
    for (const bad of ["sha-256=abc", "sha-256=:AAAA:", `sha-256=${digest.toString("base64")}`]) {
      expect(() => sha256FromContentDigest(bad)).toThrow(expect.objectContaining({ field: "Content-Digest" }));
    }
  });
});

describe("parseRange", () => {
  it("serves first-last, first-, and suffix ranges, clamped to the size", () => {
    expect(parseRange("bytes=0-9", 100)).toEqual({ first: 0, last: 9 });
    expect(parseRange("bytes=90-", 100)).toEqual({ first: 90, last: 99 });
    expect(parseRange("bytes=-10", 100)).toEqual({ first: 90, last: 99 });
    expect(parseRange("bytes=50-1000", 100)).toEqual({ first: 50, last: 99 });
    expect(parseRange("bytes=-1000", 100)).toEqual({ first: 0, last: 99 });
  });
  it("serves several ranges or another unit whole, and refuses one outside the artifact", () => {
    expect(parseRange("bytes=0-1,5-6", 100)).toBeUndefined();
    expect(parseRange("items=0-1", 100)).toBeUndefined();
    expect(() => parseRange("bytes=100-", 100)).toThrow(expect.objectContaining({ kind: "range-not-satisfiable" }));
  });
  it("ignores a range whose first byte is after its last (RFC 9110 14.2: invalid, so the whole)", () => {
    expect(parseRange("bytes=5-1", 100)).toBeUndefined();
    expect(parseRange("bytes=500-200", 100)).toBeUndefined();
  });
});

describe("checkMetadata", () => {
  it("takes a flat object of strings within the event's bounds, naming the entry at fault", () => {
    expect(checkMetadata({ epoch: "1" }, "metadata")).toEqual({ epoch: "1" });
    expect(() => checkMetadata({ epoch: 1 }, "metadata")).toThrow(expect.objectContaining({ field: "metadata.epoch" }));
    expect(() => checkMetadata(["a"], "Artifact-Metadata")).toThrow(
      expect.objectContaining({ field: "Artifact-Metadata" }),
    );
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"]));
    expect(() => checkMetadata(many, "metadata")).toThrow(/65 entries/);
  });
});

describe("toProblem", () => {
  it("gives every known error its stable type and field, and hides the rest as internal", () => {
    expect(toProblem(new InvalidArtifactError("name", "bad"))).toMatchObject({
      kind: "invalid-artifact",
      field: "name",
    });
    expect(toProblem(new BlobDigestMismatchError("a", "b"))).toMatchObject({
      kind: "digest-mismatch",
      field: "Content-Digest",
    });
    expect(toProblem(new NoDestinationError("none"))).toMatchObject({ kind: "no-destination" });
    expect(toProblem(new Error("connection closed"))).toMatchObject({ kind: "nats-unavailable", retryAfterS: 2 });
    const secret = toProblem(new Error("password=hunter2 in some driver message"));
    expect(secret.kind).toBe("internal");
    expect(secret.message).not.toContain("hunter2");
    const body = problemBody(new Problem("forbidden", "no", { field: "project" }), "/v1/x");
    expect(body).toEqual({
      type: "https://artifact-bus.dev/problems/forbidden",
      title: "The token may not do this",
      status: 403,
      detail: "no",
      instance: "/v1/x",
      field: "project",
    });
  });
});

describe("ReadBack", () => {
  const destinations = [
    { name: "s3:main", options: {} },
    { name: "sftp:archive", options: {} },
    { name: "wandb:team", options: {} },
  ] as unknown as ConstructorParameters<typeof ReadBack>[0];
  it("reads back from every S3, SFTP and dir destination, or only those gateway.readBack names", () => {
    expect(new ReadBack(destinations, silentLogger).names).toEqual(["s3:main", "sftp:archive"]);
    expect(new ReadBack(destinations, silentLogger, ["s3:main"]).names).toEqual(["s3:main"]);
  });
  it("refuses an entry that is no readable destination, naming the field", () => {
    expect(() => new ReadBack(destinations, silentLogger, ["s3:main", "wandb:team"])).toThrow(ConfigError);
    expect(() => new ReadBack(destinations, silentLogger, ["s3:other"])).toThrow(/gateway\.readBack\.0: s3:other/);
  });
});
