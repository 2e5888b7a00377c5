/**
 * The shared destination contract, run for S3 against s3rver in its own process, or against
 * the endpoint in ARTIFACT_BUS_TEST_S3_ENDPOINT (MinIO, AWS) when set. Reads and listings use a
 * client of their own and compute keys independently of the adapter's template code. Run twice: with
 * the default cutoff (the large blob goes in one PutObject) and with every blob of a part in parts.
 */

import type { ArtifactEventV1 } from "@artifact-bus/shared";
import { silentLogger } from "@artifact-bus/shared";
import {
  describeDestinationContract,
  externalS3,
  S3TestServer,
  s3ClientSettings,
  uniqueRun,
} from "@artifact-bus/testkit";
import { GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { S3Destination } from "../src/s3-destination.ts";

const MiB = 1024 * 1024;

/** `uploadCutoffBytes`: the default sends the contract's large blob (11 MiB) whole, 0 in parts. */
async function setup(uploadCutoffBytes?: number) {
  const external = externalS3();
  const server = external ? undefined : await S3TestServer.start({ buckets: ["contract-bucket"] });
  const target = external ?? server!;
  const bucket = external?.bucket ?? "contract-bucket";
  // A prefix of its own, so a shared external bucket holds nothing else under it.
  const prefix = `artifact-bus-contract/${uniqueRun()}`;
  const destination = new S3Destination({
    name: "s3:contract",
    options: {
      bucket,
      prefix,
      endpoint: target.endpoint,
      forcePathStyle: target.forcePathStyle,
      region: target.region,
      partSizeBytes: 5 * MiB,
      queueSize: 2,
      ...(uploadCutoffBytes === undefined ? {} : { uploadCutoffBytes }),
      probeTimeoutMs: 5000,
      connectTimeoutMs: 2000,
    },
    credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
    log: silentLogger,
  });
  const reader = new S3Client(s3ClientSettings(target));
  const keyOf = (e: ArtifactEventV1) => `${prefix}/${e.project}/${e.run}/${e.name}`;
  return {
    destination,
    largeSize: 11 * MiB,
    serverHoldsLongSegments: external !== undefined,
    // prefix + "/contract/<run>/" + 1,024 bytes: past S3's 1,024. A long segment is a key like any.
    refuses: {
      longName:
        /object key is [\d,]+ bytes \(name 1,024 \+ prefix "artifact-bus-contract\/r[^"]+" [\d,]+ \+ [\d,]+ from template "\{project\}\/\{run\}\/\{name\}"\); S3 allows at most 1,024 bytes/,
    },
    expectedLocation: (e: ArtifactEventV1) => `s3://${bucket}/${keyOf(e)}`,
    async read(e: ArtifactEventV1): Promise<Buffer | undefined> {
      try {
        const out = await reader.send(new GetObjectCommand({ Bucket: bucket, Key: keyOf(e) }));
        return Buffer.from(await out.Body!.transformToByteArray());
      } catch (err) {
        if ((err as Error).name === "NoSuchKey") return undefined;
        throw err;
      }
    },
    async list(): Promise<string[]> {
      const keys: string[] = [];
      let ContinuationToken: string | undefined;
      do {
        const page = await reader.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken }),
        );
        keys.push(...(page.Contents ?? []).map((o) => o.Key!.slice(prefix.length + 1)));
        ContinuationToken = page.NextContinuationToken;
      } while (ContinuationToken);
      return keys.sort();
    },
    ...(server ? { breakDestination: () => server.kill(), healDestination: () => server.restart() } : {}),
    async dispose() {
      await destination.close();
      reader.destroy();
      await server?.dispose();
    },
  };
}

const label = externalS3() ? "s3 (external endpoint)" : "s3 (s3rver)";
describeDestinationContract(`${label}, whole PUTs up to the default cutoff`, () => setup());
describeDestinationContract(`${label}, multipart from one part`, () => setup(0));
