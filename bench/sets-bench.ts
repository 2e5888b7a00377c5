/**
 * Sharded checkpoints: 8 trainers × 8 shards (SETS_SHARD_BYTES, 64 MiB by default: 4 GiB in all)
 * logged at once as the 64 members of ONE checkpoint set (the count known up front), served by 2
 * S3 uploader replicas. The bus's time runs from the first logFile until the set's pointer
 * (`checkpoints/latest`) names the set at the S3 server, polled there; the pointer moves only
 * after every member and the manifest landed. Against, in the same round on the same s3rver, what a
 * user would run on the 64 files: `aws s3 cp --recursive` and `rclone copy --transfers 8`, and
 * rclone made to upload in parts (as the bus and aws do) to show what whole-file PUTs are worth.
 * The trainers are in-process publishers, each with its own NATS connection and rank, as the S3
 * section's trainer is (the many-trainers section's processes log 4 KiB files; here the cost is
 * the upload). SETS_TRAINERS and SETS_SHARDS change the shape.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeLargeFile } from "@artifact-bus/testkit";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { S3Stack } from "../test/harness/s3-stack.ts";
import {
  type BenchContext,
  median,
  ROUNDS,
  ratioTarget,
  ratioWithSpread,
  runMeasured,
  secs,
  timeRounds,
} from "./bench-kit.ts";
import { awsCli, awsEnvFor, rcloneS3Peer } from "./s3-bench.ts";

const MiB = 1024 * 1024;
const TRAINERS = Number(process.env.SETS_TRAINERS ?? 8);
const SHARDS = Number(process.env.SETS_SHARDS ?? 8);
const SHARD_BYTES = Number(process.env.SETS_SHARD_BYTES ?? 64 * MiB);
const UPLOADERS = 2;
const MEMBERS = TRAINERS * SHARDS;

export async function runSetsBench({ report, target }: BenchContext): Promise<void> {
  // The S3 section's destination settings: 8 MiB parts, 4 in flight per upload, 16 uploads per replica.
  const stack = await S3Stack.start({
    destination: { concurrency: 16, ackWaitMs: 30_000 },
    s3Options: { partSizeBytes: 8 * MiB, queueSize: 4 },
  });
  try {
    for (let i = 0; i < UPLOADERS; i++) await stack.bus.startUploader({ ARTIFACT_BUS_LOG_LEVEL: "info" });
    const trainers = await Promise.all(Array.from({ length: TRAINERS }, (_, rank) => stack.bus.trainer({ rank })));
    const dir = join(stack.bus.dir, "shards");
    mkdirSync(dir);
    const shard = (rank: number, s: number) => `rank${rank}-shard${s}.pt`;
    for (let rank = 0; rank < TRAINERS; rank++) {
      for (let s = 0; s < SHARDS; s++) await writeLargeFile(join(dir, shard(rank, s)), SHARD_BYTES);
    }
    const s3 = stack.s3Client();
    const aws = awsCli();
    const awsEnv = awsEnvFor(stack);
    const rclone = rcloneS3Peer(stack.bus.dir, stack);
    /** The pointer's bytes at the server, or undefined while it is absent. */
    const pointer = async (): Promise<string | undefined> => {
      try {
        const out = await s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: "bench/sets/checkpoints/latest" }));
        return await out.Body!.transformToString();
      } catch (err) {
        if ((err as { name?: string }).name === "NoSuchKey") return undefined;
        throw err;
      }
    };
    const busRound = async (round: number) => {
      const set = { name: `checkpoints/round-${round}`, members: MEMBERS, step: round };
      // Every trainer logs its shards at once (hard-linked, as the S3 section's link rows).
      await Promise.all(
        trainers.flatMap((t, rank) =>
          Array.from({ length: SHARDS }, (_, s) =>
            t.publisher.logFile({
              project: "bench",
              run: "sets",
              name: `${set.name}/${shard(rank, s)}`,
              path: join(dir, shard(rank, s)),
              mode: "link",
              set,
            }),
          ),
        ),
      );
      const deadline = Date.now() + 1_800_000;
      while ((await pointer()) !== set.name) {
        if (Date.now() > deadline) throw new Error(`the pointer never named ${set.name}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const [bus, awsTimes, rcloneTimes, rcloneParts] = await timeRounds(ROUNDS, [
      busRound,
      (round) =>
        runMeasured(
          aws.path,
          ["--endpoint-url", stack.s3.endpoint, "s3", "cp", "--recursive", dir, `s3://${stack.bucket}/aws/${round}/`],
          { env: awsEnv },
        ),
      (round) => rclone.copyDir(dir, `${stack.bucket}/rclone/${round}`, ["--transfers", "8"]),
      // rclone PUTs files under its 200 MiB upload cutoff whole, which s3rver writes once; the
      // bus and aws upload in parts, which s3rver writes twice (the parts, then the object at
      // completion). The same rclone made to upload in 8 MiB parts shows what that costs.
      (round) =>
        rclone.copyDir(dir, `${stack.bucket}/rclone-parts/${round}`, [
          "--transfers",
          "8",
          "--s3-upload-cutoff",
          "0",
          "--s3-chunk-size",
          "8M",
        ]),
    ]);
    // Outside the timing: every trainer's flush returns (the set's work finished with its last member).
    await Promise.all(trainers.map((t) => t.publisher.flush({ timeoutMs: 600_000 })));
    const gib = `${((MEMBERS * SHARD_BYTES) / 1024 ** 3).toFixed(2)} GiB`;
    const what = `${TRAINERS} trainers × ${SHARDS} shards of ${(SHARD_BYTES / MiB).toFixed(0)} MiB (${MEMBERS} members, ${gib}) as one set, ${UPLOADERS} uploaders, link, median of ${ROUNDS} paired rounds`;
    report(
      `| ${what} | bus, first logFile to pointer ${secs(median(bus!))} | \`${aws.version}\` s3 cp --recursive ${secs(median(awsTimes!))} | throughput ratio ${ratioWithSpread(awsTimes!, bus!)} (target ≥ 1.0) |`,
    );
    report(
      `| ${what} | bus ${secs(median(bus!))} | \`${rclone.version}\` copy --transfers 8 ${secs(median(rcloneTimes!))} | throughput ratio ${ratioWithSpread(rcloneTimes!, bus!)} (target ≥ 1.0) |`,
    );
    report(
      `| ${what} | bus ${secs(median(bus!))} | rclone copy --transfers 8 --s3-upload-cutoff 0 --s3-chunk-size 8M (every file in parts, as the bus and aws) ${secs(median(rcloneParts!))} | throughput ratio ${ratioWithSpread(rcloneParts!, bus!)} |`,
    );
    target(ratioTarget(`${MEMBERS}-shard set of ${gib}: bus to pointer / aws s3 cp --recursive`, awsTimes!, bus!, 1.0));
    target(
      ratioTarget(
        `${MEMBERS}-shard set of ${gib}: bus to pointer / rclone copy --transfers 8`,
        rcloneTimes!,
        bus!,
        1.0,
      ),
    );
    await Promise.all(trainers.map((t) => t.close()));
    s3.destroy();
  } finally {
    await stack.dispose();
  }
}
