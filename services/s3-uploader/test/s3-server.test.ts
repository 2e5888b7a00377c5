/**
 * The s3rver launcher (testkit/src/s3-server.ts), and why its client settings are what
 * they are: the SDK's default checksum mode corrupts streamed uploads on s3rver.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { externalS3, S3TestServer, s3ClientSettings } from "@artifact-bus/testkit";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const BUCKET = "launcher-tests";
let server: S3TestServer;
let client: S3Client;

beforeAll(async () => {
  server = await S3TestServer.start({ buckets: [BUCKET, "second-bucket"] });
  client = new S3Client(s3ClientSettings(server));
});

afterAll(async () => {
  client?.destroy();
  await server?.dispose();
});

async function get(c: S3Client, key: string, bucket = BUCKET): Promise<Buffer> {
  const out = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

describe("S3TestServer", () => {
  it("serves the configured buckets with s3rver's key pair", async () => {
    expect(server.endpoint).toBe(`http://127.0.0.1:${server.port}`);
    expect([server.accessKeyId, server.secretAccessKey, server.region]).toEqual(["S3RVER", "S3RVER", "us-east-1"]);
    await client.send(new PutObjectCommand({ Bucket: "second-bucket", Key: "k", Body: "hello" }));
    expect((await get(client, "k", "second-bucket")).toString()).toBe("hello");
  });

  it("restart() after a kill keeps port and data", async () => {
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "kept", Body: "still here" }));
    const port = server.port;
    await server.kill();
    expect(server.running).toBe(false);
    await expect(get(client, "kept")).rejects.toThrow();
    await server.restart();
    expect(server.running).toBe(true);
    expect(server.port).toBe(port);
    expect((await get(client, "kept")).toString()).toBe("still here");
  });

  it("dispose() removes its own data dir but keeps one it was given", async () => {
    const own = await S3TestServer.start();
    const given = await mkdtemp(join(tmpdir(), "artifact-bus-s3-given-"));
    const kept = await S3TestServer.start({ directory: given });
    try {
      expect(existsSync(own.dir)).toBe(true);
      await Promise.all([own.dispose(), kept.dispose()]);
      expect(existsSync(own.dir)).toBe(false);
      expect(existsSync(given)).toBe(true);
      expect(own.running || kept.running).toBe(false);
    } finally {
      await rm(given, { recursive: true, force: true });
    }
  });

  it("a client with s3ClientSettings can create buckets and stores streamed bytes exactly", async () => {
    await client.send(new CreateBucketCommand({ Bucket: "made-by-client" }));
    const bytes = Buffer.from("streamed body ".repeat(1000));
    await client.send(
      new PutObjectCommand({
        Bucket: "made-by-client",
        Key: "s",
        Body: Readable.from([bytes]),
        ContentLength: bytes.length,
      }),
    );
    expect((await get(client, "s", "made-by-client")).equals(bytes)).toBe(true);
  });

  it("with the SDK's default checksum mode s3rver stores aws-chunked framing (why WHEN_REQUIRED)", async () => {
    const { requestChecksumCalculation: _r, responseChecksumValidation: _v, ...plain } = s3ClientSettings(server);
    const defaults = new S3Client(plain);
    try {
      const bytes = Buffer.from("x".repeat(10_000));
      await defaults.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: "chunked",
          Body: Readable.from([bytes]),
          ContentLength: bytes.length,
        }),
      );
      const stored = await get(client, "chunked");
      // If this starts failing, s3rver or the SDK changed and the settings may be relaxed.
      expect(stored.equals(bytes)).toBe(false);
      expect(stored.length).toBeGreaterThan(bytes.length);
    } finally {
      defaults.destroy();
    }
  });
});

describe("externalS3", () => {
  it("is undefined without ARTIFACT_BUS_TEST_S3_ENDPOINT", () => {
    expect(externalS3({})).toBeUndefined();
  });

  it("reads endpoint, keys, bucket, region and path style from the environment", () => {
    const env = {
      ARTIFACT_BUS_TEST_S3_ENDPOINT: "http://minio:9000",
      ARTIFACT_BUS_TEST_S3_ACCESS_KEY: "minio",
      ARTIFACT_BUS_TEST_S3_SECRET_KEY: "minio-secret",
      ARTIFACT_BUS_TEST_S3_BUCKET: "ci-bucket",
    };
    expect(externalS3(env)).toEqual({
      endpoint: "http://minio:9000",
      accessKeyId: "minio",
      secretAccessKey: "minio-secret",
      bucket: "ci-bucket",
      region: "us-east-1",
      forcePathStyle: true,
    });
    expect(
      externalS3({ ...env, ARTIFACT_BUS_TEST_S3_FORCE_PATH_STYLE: "false", AWS_REGION: "eu-west-1" }),
    ).toMatchObject({
      forcePathStyle: false,
      region: "eu-west-1",
    });
    expect(() => externalS3({ ARTIFACT_BUS_TEST_S3_ENDPOINT: "http://minio:9000" })).toThrow(
      /ARTIFACT_BUS_TEST_S3_ACCESS_KEY must be set/,
    );
  });
});
