/** The W&B adapter's pure parts: names, digests, error classes, part sizes, options. */
import { ConfigError, DestinationError, PermanentError, TransientError } from "@artifact-bus/shared";
import { testEvent } from "@artifact-bus/testkit";
import { describe, expect, it } from "vitest";
import {
  apiGraphqlError,
  apiStatusError,
  DEFAULT_TYPES,
  manifestDigest,
  md5Base64,
  parseWandbOptions,
  partSizeFor,
  retryAfterMs,
  storageStatusError,
  wandbAliases,
  wandbArtifactName,
  wandbMetadata,
  wandbType,
} from "../src/mod.ts";

describe("names, types and aliases, as Composer users know them", () => {
  it("keeps a clean name, and maps others to W&B's alphabet with a hash that keeps them distinct", () => {
    expect(wandbArtifactName("ep1-ba100-rank0.pt")).toBe("ep1-ba100-rank0.pt");
    const nested = wandbArtifactName("a/b.pt");
    expect(nested).toMatch(/^a\.b\.pt-[0-9a-f]{8}$/);
    expect(wandbArtifactName("a.b.pt")).toBe("a.b.pt");
    expect(wandbArtifactName("a_b.pt")).not.toBe(nested);
    expect(wandbArtifactName("é t/x")).toMatch(/^[a-zA-Z0-9_\-.]+$/);
    const long = wandbArtifactName("x".repeat(300));
    expect(long.length).toBe(128);
    expect(long).not.toBe(wandbArtifactName(`${"x".repeat(299)}y`));
  });

  it("types by extension, case-insensitive, else the default", () => {
    expect(wandbType("ckpt/ep1.PT", DEFAULT_TYPES, "file")).toBe("model");
    expect(wandbType("model.safetensors", DEFAULT_TYPES, "file")).toBe("model");
    expect(wandbType("trace.json", DEFAULT_TYPES, "file")).toBe("file");
    expect(wandbType("dir.pt/noext", DEFAULT_TYPES, "file")).toBe("file");
  });

  it("aliases: latest, ep{epoch}-ba{batch}, listed ones; refuses what W&B refuses", () => {
    expect(wandbAliases({ epoch: "1", batch: "100" }).aliases).toEqual(["latest", "ep1-ba100"]);
    expect(wandbAliases({ aliases: "best, final,latest" }).aliases).toEqual(["latest", "best", "final"]);
    expect(wandbAliases({ aliases: "a/b,c:d" })).toEqual({ aliases: ["latest"], refused: ["a/b", "c:d"] });
    const e = testEvent({ size: 1, sha256: "0".repeat(64), metadata: { epoch: "1" } });
    expect(wandbMetadata(e)).toEqual({ epoch: "1", createdAt: e.createdAt });
  });
});

describe("digests", () => {
  it("match the reference's test vector", () => {
    const md5 = md5Base64(Buffer.from("hello"));
    expect(md5).toBe("XUFAKrxLKna5cZ2REBfFkg==");
    expect(manifestDigest({ "hello.txt": md5 })).toBe("b47eae474222b4cb909d3545bcb98076");
  });

  it("sort paths by bytes", () => {
    expect(manifestDigest({ b: "x", a: "y" })).toBe(manifestDigest({ a: "y", b: "x" }));
  });
});

describe("errors, as the official clients retry", () => {
  it("retries 429, 5xx and unknown 4xx; keeps Retry-After", () => {
    const e = apiStatusError(429, "CreateArtifact", 3000);
    expect(e).toBeInstanceOf(TransientError);
    expect((e as TransientError).retryAfterMs).toBe(3000);
    for (const s of [500, 502, 503, 418, 0, 600])
      expect(apiStatusError(s, "CommitArtifact", undefined)).toBeInstanceOf(TransientError);
  });

  it("401 and 403 break the destination (the key), and so do 400, 404 and 501 on the API", () => {
    for (const s of [401, 403, 400, 404, 501]) {
      expect(apiStatusError(s, "CreateArtifact", undefined), String(s)).toBeInstanceOf(DestinationError);
    }
    for (const s of [409, 410, 413, 422])
      expect(apiStatusError(s, "CreateArtifact", undefined)).toBeInstanceOf(PermanentError);
    expect(apiStatusError(409, "UpsertBucket", undefined)).toBeInstanceOf(TransientError);
  });

  it("classifies GraphQL errors in a 200 by message", () => {
    expect(apiGraphqlError(["permission denied for entity x"], "op")).toBeInstanceOf(DestinationError);
    expect(apiGraphqlError(["context deadline exceeded"], "op")).toBeInstanceOf(TransientError);
    expect(apiGraphqlError(["invalid artifact name"], "op")).toBeInstanceOf(PermanentError);
    expect(apiGraphqlError(['artifact type "job" is reserved'], "op")).toBeInstanceOf(PermanentError);
    expect(apiGraphqlError(["Internal Server Error"], "op")).toBeInstanceOf(TransientError);
    expect(apiGraphqlError(["something never seen before"], "op")).toBeInstanceOf(TransientError);
  });

  it("storage: 429, 5xx and an expired URL are retried", () => {
    for (const s of [429, 500, 503, 403]) expect(storageStatusError(s, "f", undefined)).toBeInstanceOf(TransientError);
    expect(storageStatusError(501, "f", undefined)).toBeInstanceOf(PermanentError);
    expect(retryAfterMs("1.5")).toBe(1500);
    expect(retryAfterMs("Tue, 01 Jan 2030 00:00:10 GMT", Date.parse("2030-01-01T00:00:00Z"))).toBe(10_000);
  });
});

describe("options and sizes", () => {
  it("parts of 100 MiB, larger past 10,000 parts, in multiples of 4 KiB", () => {
    const MiB = 1024 ** 2;
    expect(partSizeFor(2.5 * 1024 * MiB, 100 * MiB)).toBe(100 * MiB);
    const big = partSizeFor(2 * 1024 ** 4, 100 * MiB);
    expect(big % 4096).toBe(0);
    expect(Math.ceil((2 * 1024 ** 4) / big)).toBeLessThanOrEqual(10_000);
  });

  it("fail fast naming the field; the API key never in options", () => {
    expect(parseWandbOptions("wandb:t", { entity: "team" })).toMatchObject({
      baseUrl: "https://api.wandb.ai",
      project: "{project}",
    });
    expect(() => parseWandbOptions("wandb:t", {})).toThrow(/options\.entity/);
    expect(() => parseWandbOptions("wandb:t", { entity: "t", apiKey: "sekret" })).toThrow(/WANDB_API_KEY/);
    expect(() => parseWandbOptions("wandb:t", { entity: "t", types: { ".pt": "wandb-x" } })).toThrow(/types\..pt/);
    expect(() => parseWandbOptions("wandb:t", { entity: "t", baseUrl: "ftp://x" })).toThrow(ConfigError);
    expect(() => parseWandbOptions("wandb:t", { entity: "t", bogus: 1 })).toThrow(/bogus: unknown option/);
  });
});
