/** The bus stack with the S3 destination: an S3-compatible server in its own process. */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import type { DestinationConfig } from "@artifact-bus/shared";
import { S3TestServer, s3ClientSettings } from "@artifact-bus/testkit";
import { GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { BusStack } from "./bus-stack.ts";

const S3_MAIN = resolve(import.meta.dirname, "../../services/s3-uploader/src/main.ts");

export interface S3StackOptions {
  bucket?: string;
  destination?: Partial<DestinationConfig>;
  s3Options?: Record<string, unknown>;
  /** Adds the destination `s3:mirror`: the same bucket, under this prefix. */
  mirrorPrefix?: string;
  /** Run NATS with the committed sample permissions; the destination is then `s3:minio`. */
  secured?: boolean;
  /** Run a three-node NATS cluster (streams at 3 replicas). */
  cluster?: boolean;
  /** Projects that may stage into the object store (`staging.projects`): each gets its bucket. */
  blobProjects?: string[];
  /** The S3 server answers ListParts, AbortMultipartUpload, ListMultipartUploads (S3TestServer). */
  multipartApi?: boolean;
}

export class S3Stack {
  readonly bus: BusStack;
  readonly s3: S3TestServer;
  readonly bucket: string;

  private constructor(bus: BusStack, s3: S3TestServer, bucket: string) {
    this.bus = bus;
    this.s3 = s3;
    this.bucket = bucket;
  }

  static async start(o: S3StackOptions = {}): Promise<S3Stack> {
    const bucket = o.bucket ?? "artifacts";
    const s3 = await S3TestServer.start({ buckets: [bucket], multipartApi: o.multipartApi ?? false });
    const options = { bucket, endpoint: s3.endpoint, forcePathStyle: true, region: s3.region, ...o.s3Options };
    // A failed start disposes of the S3 server: the caller gets no stack to dispose.
    const bus = await BusStack.start({
      main: S3_MAIN,
      env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region },
      destination: { name: o.secured ? "s3:minio" : "s3:e2e", ...o.destination, options },
      secured: o.secured,
      cluster: o.cluster,
      blobProjects: o.blobProjects,
      moreDestinations:
        o.mirrorPrefix === undefined
          ? []
          : [{ name: "s3:mirror", ...o.destination, options: { ...options, prefix: o.mirrorPrefix } }],
    }).catch(async (err: unknown) => {
      await s3.dispose().catch(() => undefined);
      throw err;
    });
    return new S3Stack(bus, s3, bucket);
  }

  /** A client of its own, independent of the uploader's. */
  s3Client(): S3Client {
    return new S3Client(s3ClientSettings(this.s3));
  }

  /**
   * Independent GET of an object; undefined when absent, or while the server is still writing it.
   * s3rver makes a PUT's object readable before its bytes are all on disk (it writes the
   * metadata once the body has streamed past, not once the file is written), so a GET polling
   * for a new object can read it cut short: a body whose MD5 is not the object's (single-part)
   * ETag is one still being written, read again by the caller's `eventually`.
   */
  async getObject(key: string): Promise<Buffer | undefined> {
    const client = this.s3Client();
    try {
      const out = await client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const body = Buffer.from(await out.Body!.transformToByteArray());
      const etag = out.ETag?.replaceAll('"', "");
      if (etag && /^[0-9a-f]{32}$/.test(etag) && createHash("md5").update(body).digest("hex") !== etag)
        return undefined;
      return body;
    } catch (err) {
      if ((err as { name?: string }).name === "NoSuchKey") return undefined;
      throw err;
    } finally {
      client.destroy();
    }
  }

  async listKeys(prefix: string): Promise<string[]> {
    const client = this.s3Client();
    try {
      const out = await client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix }));
      return (out.Contents ?? []).map((o) => o.Key!).sort();
    } finally {
      client.destroy();
    }
  }

  async dispose(): Promise<void> {
    try {
      await this.bus.dispose();
    } finally {
      await this.s3.dispose();
    }
  }
}
