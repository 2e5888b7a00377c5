/**
 * One s3rver process per test file, a capture proxy in front of it, an independent reader
 * client, and a factory for destinations that talk through the proxy.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "@artifact-bus/shared";
import { S3TestServer, type S3TestServerOptions, s3ClientSettings } from "@artifact-bus/testkit";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { S3Destination } from "../src/s3-destination.ts";
import { CaptureProxy } from "./capture-proxy.ts";

export const MiB = 1024 * 1024;

export class S3Fixture {
  readonly bucket: string;
  readonly server: S3TestServer;
  readonly proxy: CaptureProxy;
  readonly reader: S3Client;
  /** Where test artifacts are written. */
  readonly dir: string;
  private readonly opened: S3Destination[] = [];

  private constructor(bucket: string, server: S3TestServer, proxy: CaptureProxy, dir: string) {
    this.bucket = bucket;
    this.server = server;
    this.proxy = proxy;
    this.dir = dir;
    this.reader = new S3Client(s3ClientSettings(server));
  }

  /** `server`: more S3TestServer options, e.g. `multipartApi`. */
  static async start(bucket: string, server: Omit<S3TestServerOptions, "buckets"> = {}): Promise<S3Fixture> {
    const [s3, dir] = await Promise.all([
      S3TestServer.start({ ...server, buckets: [bucket] }),
      mkdtemp(join(tmpdir(), "artifact-bus-s3-test-")),
    ]);
    return new S3Fixture(bucket, s3, await CaptureProxy.start(s3.endpoint), dir);
  }

  /**
   * A destination through the proxy: 5 MiB parts, no SDK retries, and every blob of a part or
   * more in parts (uploadCutoffBytes 0: the multipart tests' blobs are a few parts; the whole-PUT
   * tests set a cutoff); closed by dispose().
   */
  destination(
    options: Record<string, unknown> = {},
    credentials?: { accessKeyId: string; secretAccessKey: string },
  ): S3Destination {
    const dest = new S3Destination({
      name: "s3:test",
      options: {
        bucket: this.bucket,
        endpoint: this.proxy.endpoint,
        forcePathStyle: true,
        partSizeBytes: 5 * MiB,
        queueSize: 2,
        maxAttempts: 1,
        uploadCutoffBytes: 0,
        probeTimeoutMs: 5000,
        ...options,
      },
      credentials: credentials ?? {
        accessKeyId: this.server.accessKeyId,
        secretAccessKey: this.server.secretAccessKey,
      },
      log: silentLogger,
    });
    this.opened.push(dest);
    return dest;
  }

  /** The object's bytes, read without the destination's client; undefined if absent. */
  async readObject(key: string): Promise<Buffer | undefined> {
    try {
      const out = await this.reader.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (err) {
      if ((err as Error).name === "NoSuchKey") return undefined;
      throw err;
    }
  }

  async dispose(): Promise<void> {
    await Promise.all(this.opened.map((d) => d.close()));
    this.reader.destroy();
    await this.proxy.close();
    await this.server.dispose();
    await rm(this.dir, { recursive: true, force: true });
  }
}
