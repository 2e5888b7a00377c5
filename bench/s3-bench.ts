import { createReadStream, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeLargeFile, writeRandomFile } from "@artifact-bus/shared/testing";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { S3Stack } from "../test/harness/s3-stack.ts";
import {
  type BenchContext,
  forEachConcurrently,
  logAndFlush,
  median,
  pairedRatio,
  peakRssMb,
  ROUNDS,
  secs,
  timeRounds,
} from "./bench-kit.ts";

const PART = 8 * 1024 * 1024; // the destination default
const QUEUE = 4;
const CONCURRENCY = 16;
const SMALL_SIZE = 4096;

export async function runS3Bench({ largeBytes: LARGE, smallCount: SMALL_COUNT, report }: BenchContext): Promise<void> {
  const stack = await S3Stack.start({
    destination: { concurrency: CONCURRENCY, ackWaitMs: 30_000 },
    s3Options: { partSizeBytes: PART, queueSize: QUEUE },
  });
  try {
    const uploader = await stack.bus.startUploader({ ARTIFACT_BUS_LOG_LEVEL: "info" });
    const trainer = await stack.bus.trainer();
    const big = join(stack.bus.dir, "big.bin");
    await writeLargeFile(big, LARGE);
    const s3 = stack.s3Client();

    // 1. Large artifact: direct lib-storage Upload vs through the bus (logFile + flush).
    const [largeDirect, largeBus] = await timeRounds(ROUNDS, [
      (round) =>
        new Upload({
          client: s3,
          params: {
            Bucket: stack.bucket,
            Key: `direct/big-${round}.bin`,
            Body: createReadStream(big, { highWaterMark: 1 << 20 }),
            ChecksumAlgorithm: "SHA256",
          },
          partSize: PART,
          queueSize: QUEUE,
        }).done(),
      (round) => logAndFlush(trainer, big, round),
    ]);
    const rssMb = peakRssMb(uploader.pid);
    report(
      `| ${(LARGE / 1024 ** 3).toFixed(2)} GiB artifact, median of ${ROUNDS} paired rounds | bus (logFile link + upload + flush) ${secs(median(largeBus!))} | direct lib-storage Upload ${secs(median(largeDirect!))} | throughput ratio ${pairedRatio(largeDirect!, largeBus!).toFixed(2)} (target ≥ 0.9) |`,
    );
    report(`| uploader peak RSS during the large upload | ${rssMb.toFixed(0)} MB | | (target ≤ 200 MB) |`);

    // 2. Many small artifacts end to end vs direct PutObject at the same concurrency. A round
    // takes seconds and swings the most with the neighbours' load: twice the rounds.
    const small = join(stack.bus.dir, "small.bin");
    writeRandomFile(small, SMALL_SIZE);
    const body = readFileSync(small);
    const smallRounds = ROUNDS * 2;
    const [manyDirect, manyBus] = await timeRounds(smallRounds, [
      (round) =>
        forEachConcurrently(SMALL_COUNT, CONCURRENCY, (i) =>
          s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: `direct/small-${round}/${i}`, Body: body })),
        ),
      async (round) => {
        await forEachConcurrently(SMALL_COUNT, CONCURRENCY, (i) =>
          trainer.publisher.logFile({ project: "bench", run: `small-${round}`, name: `s/${i}`, path: small }),
        );
        await trainer.publisher.flush({ timeoutMs: 600_000 });
      },
    ]);
    report(
      `| ${SMALL_COUNT} × 4 KiB artifacts, median of ${smallRounds} paired rounds | bus end to end ${secs(median(manyBus!))} | direct PutObject ×${CONCURRENCY} ${secs(median(manyDirect!))} | throughput ratio ${pairedRatio(manyDirect!, manyBus!).toFixed(2)} (target ≥ 0.8) |`,
    );

    // logFile per staging mode: see staging-bench.ts.
    await trainer.close();
    s3.destroy();
  } finally {
    await stack.dispose();
  }
}
