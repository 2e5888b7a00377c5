/**
 * S3-specific requests against s3rver in its own process, seen through a capture proxy: key
 * confinement, and the checksums, multipart calls and aborts the uploader builds, which s3rver
 * itself neither verifies nor implements.
 */
import { createHash, randomBytes } from "node:crypto";
import type { ArtifactEventV1 } from "@artifact-bus/shared";
import { PermanentError, TransientError } from "@artifact-bus/shared";
import { fileArtifact, testContext, uniqueRun } from "@artifact-bus/testkit";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { s3ErrorResponse } from "./capture-proxy.ts";
import { MiB, S3Fixture } from "./s3-fixture.ts";

const b64sha = (b: Buffer) => createHash("sha256").update(b).digest("base64");
const hexsha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

let f: S3Fixture;

beforeAll(async () => {
  f = await S3Fixture.start("s3-destination-tests");
});

afterEach(() => f.proxy.reset());

afterAll(async () => {
  await f?.dispose();
});

const event = (name: string): Pick<ArtifactEventV1, "project" | "run" | "name" | "level" | "producer"> => ({
  project: "p1",
  run: "r1",
  name,
  level: "fit",
  producer: { host: "h", pid: 1 },
});

describe("keys", () => {
  it("refuses names with a hidden segment unless the destination opts in", async () => {
    const strict = f.destination();
    for (const name of [".ssh/authorized_keys", "a/.hidden/b.pt", ".env"]) {
      expect(() => strict.keyOf(event(name)), name).toThrow(/allowDotSegments/);
    }
    const artifact = await fileArtifact(f.dir, ".hydra/config.yaml", Buffer.from("lr: 0.1"));
    await expect(strict.upload(artifact, testContext())).rejects.toBeInstanceOf(PermanentError);
    const key = `${artifact.event.project}/${artifact.event.run}/.hydra/config.yaml`;
    expect(await f.readObject(key)).toBeUndefined();
    const open = f.destination({ allowDotSegments: true });
    expect(open.keyOf(artifact.event)).toBe(key);
    await open.upload(artifact, testContext());
    expect((await f.readObject(key))?.toString()).toBe("lr: 0.1");
  });

  it("renders prefix + template and keeps every key under the prefix", async () => {
    const dest = f.destination({ prefix: "/team//a/", keyTemplate: "{project}/{level}/{name}" });
    expect(dest.keyOf(event("ckpt/ep1.pt"))).toBe("team/a/p1/fit/ckpt/ep1.pt");
    for (const bad of ["../escape.pt", "a/../../b", "/etc/passwd", "a\\b", "a//b"]) {
      expect(() => dest.keyOf(event(bad)), bad).toThrow(PermanentError);
    }
    const artifact = await fileArtifact(f.dir, "../../outside.bin", randomBytes(10));
    await expect(dest.upload(artifact, testContext())).rejects.toBeInstanceOf(PermanentError);
    expect(f.proxy.requests).toEqual([]);
  });

  it("rejects prefixes and templates that could escape, at construction", () => {
    expect(() => f.destination({ prefix: "a/../../b" })).toThrow(/options\.prefix/);
    expect(() => f.destination({ keyTemplate: "{project}/{nope}" })).toThrow(/options\.keyTemplate.*\{nope\}/);
    expect(() => f.destination({ keyTemplate: "{project}/{run}" })).toThrow(/options\.keyTemplate.*\{name\}/);
  });

  it("a template that renders '..' fails the upload permanently", async () => {
    const dest = f.destination({ keyTemplate: "{name}/../../{project}" });
    const artifact = await fileArtifact(f.dir, "x.bin", randomBytes(10));
    await expect(dest.upload(artifact, testContext())).rejects.toBeInstanceOf(PermanentError);
  });
});

describe("requests", () => {
  it("PutObject carries the event's SHA-256, length, type and metadata, as a plain body", async () => {
    const bytes = randomBytes(200_000);
    const artifact = await fileArtifact(f.dir, "ckpt/ünï ☃.pt", bytes, { metadata: { Note: "héllo", plain: "a b" } });
    const dest = f.destination({ prefix: uniqueRun() });
    const receipt = await dest.upload(artifact, testContext());
    const [put, ...more] = f.proxy.find("PUT");
    expect(more).toEqual([]);
    expect(put!.headers["x-amz-checksum-sha256"]).toBe(b64sha(bytes));
    // SigV4's payload hash is the same digest (S3 checks it against the body it receives).
    expect(put!.headers["x-amz-content-sha256"]).toBe(hexsha(bytes));
    expect(put!.headers["content-length"]).toBe(String(bytes.length));
    expect(put!.headers["content-encoding"]).toBeUndefined();
    expect(put!.headers["x-amz-meta-artifact-sha256"]).toBe(artifact.event.blob.sha256);
    expect(put!.headers["x-amz-meta-artifact-event-id"]).toBe(artifact.event.id);
    const key = dest.keyOf(artifact.event);
    const head = await f.reader.send(new HeadObjectCommand({ Bucket: f.bucket, Key: key }));
    expect(decodeURIComponent(head.Metadata!["artifact-name"]!)).toBe("ckpt/ünï ☃.pt");
    expect(decodeURIComponent(head.Metadata!.note!)).toBe("héllo");
    expect(head.Metadata!.plain).toBe("a b");
    expect(receipt).toEqual({
      location: `s3://${f.bucket}/${key}`,
      size: bytes.length,
      details: { etag: head.ETag!.replaceAll('"', "") },
    });
  });

  it("multipart declares SHA256 and sends each part's checksum", async () => {
    const bytes = randomBytes(11 * MiB + 5);
    const artifact = await fileArtifact(f.dir, "large.pt", bytes);
    const dest = f.destination({ prefix: uniqueRun() });
    await dest.upload(artifact, testContext());
    const [create] = f.proxy.find("POST", (u) => u.searchParams.has("uploads"));
    expect(create!.headers["x-amz-checksum-algorithm"]).toBe("SHA256");
    const parts = f.proxy.find("PUT", (u) => u.searchParams.has("partNumber"));
    expect(parts).toHaveLength(3);
    for (const part of parts) {
      const n = Number(new URL(part.url, "http://x").searchParams.get("partNumber"));
      const body = bytes.subarray((n - 1) * 5 * MiB, n * 5 * MiB);
      expect(part.headers["x-amz-checksum-sha256"]).toBe(b64sha(body));
      expect(part.headers["x-amz-content-sha256"]).toBe(hexsha(body));
    }
    expect(f.proxy.find("POST", (u) => u.searchParams.has("uploadId"))).toHaveLength(1);
    expect((await f.readObject(dest.keyOf(artifact.event)))!.equals(bytes)).toBe(true);
  });

  it("uploads at once share one pool of part buffers and all land intact", async () => {
    // queueSize 1: the pool holds 4 parts, so six uploads at once must take turns for buffers.
    const dest = f.destination({ prefix: uniqueRun(), queueSize: 1 });
    const files = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const bytes = randomBytes(11 * MiB + i);
        return { bytes, artifact: await fileArtifact(f.dir, `concurrent-${i}.pt`, bytes) };
      }),
    );
    await Promise.all(files.map(({ artifact }) => dest.upload(artifact, testContext())));
    for (const { bytes, artifact } of files) {
      expect((await f.readObject(dest.keyOf(artifact.event)))!.equals(bytes)).toBe(true);
    }
    expect(f.proxy.find("PUT", (u) => u.searchParams.has("partNumber"))).toHaveLength(18);
  });

  it.each([
    ["a part failing with 500", "server"],
    ["the caller's signal aborting", "signal"],
  ])("%s aborts the multipart upload and keeps the real error", async (_label, how) => {
    const artifact = await fileArtifact(f.dir, "large.pt", randomBytes(16 * MiB));
    const ctx = testContext();
    f.proxy.intercept = (r) => {
      if (!r.url.includes("partNumber=2")) return undefined;
      if (how === "server") return s3ErrorResponse(500, "InternalError");
      // The upload id is known by now (part 1 carries it): an abort mid-part, deterministically.
      ctx.controller.abort(new Error("lease lost"));
      return undefined;
    };
    const dest = f.destination({ prefix: uniqueRun() });
    const err = await dest.upload(artifact, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toMatch(how === "server" ? /InternalError/ : /aborted/);
    const uploadIds = new Set(f.proxy.find("PUT").map((r) => new URL(r.url, "http://x").searchParams.get("uploadId")));
    expect(uploadIds.size).toBe(1);
    const aborts = f.proxy.find("DELETE", (u) => u.searchParams.has("uploadId"));
    expect(aborts.map((r) => new URL(r.url, "http://x").searchParams.get("uploadId"))).toEqual([...uploadIds]);
    expect(aborts[0]!.status).toBe(405); // s3rver cannot abort; the upload's own error still wins
    expect(f.proxy.find("POST", (u) => u.searchParams.has("uploadId"))).toEqual([]);
    expect(await f.readObject(dest.keyOf(artifact.event))).toBeUndefined();
  });

  it("throttling with Retry-After is transient and keeps the server's delay", async () => {
    f.proxy.intercept = () => s3ErrorResponse(503, "SlowDown", { "retry-after": "7" });
    const err = await f
      .destination()
      .upload(await fileArtifact(f.dir, "t.bin", randomBytes(10)), testContext())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as TransientError).retryAfterMs).toBe(7000);
  });

  it("cleanupAbandoned without a prefix aborts nothing: a shared bucket's other uploads are not its own", async () => {
    const dest = f.destination({ prefix: "" });
    const old = new Date(Date.now() - 48 * 3600_000).toISOString();
    f.proxy.intercept = (r) =>
      r.method === "GET" && r.url.includes("uploads")
        ? {
            status: 200,
            headers: { "content-type": "application/xml" },
            body: `<ListMultipartUploadsResult><Bucket>${f.bucket}</Bucket><IsTruncated>false</IsTruncated><Upload><Key>other-team/big.bin</Key><UploadId>theirs-1</UploadId><Initiated>${old}</Initiated></Upload></ListMultipartUploadsResult>`,
          }
        : r.method === "DELETE"
          ? { status: 204 }
          : undefined;
    expect(await dest.cleanupAbandoned(24 * 3600_000)).toBe(0);
    expect(f.proxy.find("DELETE")).toEqual([]);
  });

  it("cleanupAbandoned aborts only old uploads under the prefix, and tolerates NotImplemented", async () => {
    const dest = f.destination({ prefix: "team/a" });
    expect(await dest.cleanupAbandoned(0)).toBe(0); // s3rver: NotImplemented
    const old = new Date(Date.now() - 48 * 3600_000).toISOString();
    const upload = (key: string, id: string, at: string) =>
      `<Upload><Key>${key}</Key><UploadId>${id}</UploadId><Initiated>${at}</Initiated></Upload>`;
    f.proxy.intercept = (r) =>
      r.method === "GET" && r.url.includes("uploads")
        ? {
            status: 200,
            headers: { "content-type": "application/xml" },
            body: `<ListMultipartUploadsResult><Bucket>${f.bucket}</Bucket><IsTruncated>false</IsTruncated>${upload("team/a/x", "old-1", old)}${upload("team/a/y", "new-1", new Date().toISOString())}</ListMultipartUploadsResult>`,
          }
        : r.method === "DELETE"
          ? { status: 204 }
          : undefined;
    expect(await dest.cleanupAbandoned(24 * 3600_000)).toBe(1);
    const [list] = f.proxy.find("GET", (u) => u.searchParams.has("uploads"));
    expect(new URL(list!.url, "http://x").searchParams.get("prefix")).toBe("team/a/");
    const deletes = f.proxy.find("DELETE").map((r) => new URL(r.url, "http://x"));
    expect(deletes.map((u) => [u.pathname, u.searchParams.get("uploadId")])).toEqual([
      [`/${f.bucket}/team/a/x`, "old-1"],
    ]);
  });
});
