import { execFileSync } from "node:child_process";
import { createReadStream, readFileSync } from "node:fs";
import { join } from "node:path";
import { cpuSeconds, rssMb, writeLargeFile, writeRandomFile } from "@artifact-bus/testkit";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { S3Stack } from "../test/harness/s3-stack.ts";
import {
  atMost,
  type BenchContext,
  forEachConcurrently,
  logAndFlush,
  median,
  ms,
  ownCpu,
  pairedRatio,
  peakRssMb,
  ROUNDS,
  ratioTarget,
  ratioWithSpread,
  runMeasured,
  secs,
  timeRounds,
  uploaderMemoryRows,
} from "./bench-kit.ts";
import { type RclonePeer, rclonePeer } from "./rclone.ts";

const PART = 8 * 1024 * 1024; // the destination default
const QUEUE = 4;
const CONCURRENCY = 16;
const SMALL_SIZE = 4096;

/** The AWS CLI on the PATH (`npm run bench` installs Debian's awscli when there is none), and its version. */
export function awsCli(): { path: string; version: string } {
  const path = execFileSync("bash", ["-c", "command -v aws"]).toString().trim();
  const version = execFileSync(path, ["--version"]).toString().trim().split(" ")[0] ?? "aws";
  return { path, version };
}

/** The environment `aws` runs with against the stack's S3 server, as a user would set it. */
export function awsEnvFor(stack: S3Stack): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ACCESS_KEY_ID: stack.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: stack.s3.secretAccessKey,
    AWS_DEFAULT_REGION: stack.s3.region,
    AWS_EC2_METADATA_DISABLED: "true",
  };
}

/** rclone with its defaults against the stack's S3 server, its config under `dir`. */
export function rcloneS3Peer(dir: string, stack: S3Stack): RclonePeer {
  return rclonePeer(dir, {
    type: "s3",
    provider: "Other",
    access_key_id: stack.s3.accessKeyId,
    secret_access_key: stack.s3.secretAccessKey,
    region: stack.s3.region,
    endpoint: stack.s3.endpoint,
  });
}

export async function runS3Bench({
  largeBytes: LARGE,
  smallCount: SMALL_COUNT,
  report,
  target,
}: BenchContext): Promise<void> {
  const stack = await S3Stack.start({
    destination: { concurrency: CONCURRENCY, ackWaitMs: 30_000 },
    s3Options: { partSizeBytes: PART, queueSize: QUEUE },
  });
  try {
    const uploader = await stack.bus.startUploader({ ARTIFACT_BUS_LOG_LEVEL: "info" });
    const idleMb = rssMb(uploader.pid);
    const trainer = await stack.bus.trainer();
    const big = join(stack.bus.dir, "big.bin");
    await writeLargeFile(big, LARGE);
    const s3 = stack.s3Client();

    // 1. Large artifact: `aws s3 cp` (what users would run) and a direct lib-storage Upload vs
    // through the bus (logFile + flush) in link and in copy mode, alternating within each round.
    const aws = awsCli();
    const awsEnv = awsEnvFor(stack);
    // rclone with its defaults (5 MiB parts, 4 at once, an MD5 of the file for its metadata).
    const rclone = rcloneS3Peer(stack.bus.dir, stack);
    const cpu = {
      aws: [] as number[],
      awsSha256: [] as number[],
      rclone: [] as number[],
      link: [] as number[],
      copy: [] as number[],
    };
    const linkReturned: number[] = [];
    /** CPU of the trainer (this process) and the uploader during one bus round. */
    const busRound = async (round: number, mode: "link" | "copy") => {
      const u0 = cpuSeconds(uploader.pid);
      const [own, returnedMs] = await ownCpu(() => logAndFlush(trainer, big, round, mode));
      cpu[mode].push(own + cpuSeconds(uploader.pid) - u0);
      if (mode === "link") linkReturned.push(returnedMs);
    };
    const awsCp = (key: string, extra: string[] = []) =>
      runMeasured(
        aws.path,
        ["--endpoint-url", stack.s3.endpoint, "s3", "cp", ...extra, big, `s3://${stack.bucket}/${key}`],
        {
          env: awsEnv,
        },
      );
    const [largeAws, largeLink, largeCopy, largeDirect, largeRclone, largeAwsSha256] = await timeRounds(ROUNDS, [
      async (round) => cpu.aws.push(await awsCp(`aws/big-${round}.bin`)),
      (round) => busRound(round, "link"),
      (round) => busRound(round, "copy"),
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
      async (round) => cpu.rclone.push(await rclone.copyTo(big, `${stack.bucket}/rclone/big-${round}.bin`)),
      // The peer at equal integrity: a SHA-256 of every part computed and sent (s3rver accepts
      // the header and stores no checksum: the client's work is what this row compares).
      async (round) =>
        cpu.awsSha256.push(await awsCp(`aws-sha256/big-${round}.bin`, ["--checksum-algorithm", "SHA256"])),
    ]);
    const peakMb = peakRssMb(uploader.pid);
    const size = `${(LARGE / 1024 ** 3).toFixed(2)} GiB artifact, median of ${ROUNDS} paired rounds`;
    const gib = LARGE / 1024 ** 3;
    report(
      `| ${size}, staging mode link | bus (logFile + upload + flush) ${secs(median(largeLink!))} | \`${aws.version}\` s3 cp ${secs(median(largeAws!))} | throughput ratio ${ratioWithSpread(largeAws!, largeLink!)} (target ≥ 1.0) |`,
    );
    report(
      `| ${size}, staging mode copy (the default) | bus ${secs(median(largeCopy!))} | aws s3 cp ${secs(median(largeAws!))} | throughput ratio ${ratioWithSpread(largeAws!, largeCopy!)} (target ≥ 0.95) |`,
    );
    report(
      `| ${size}, staging mode link | bus ${secs(median(largeLink!))} | \`${rclone.version}\` copyto ${secs(median(largeRclone!))} | throughput ratio ${ratioWithSpread(largeRclone!, largeLink!)} (target ≥ 1.0) |`,
    );
    report(
      `| ${size}, staging mode link | bus ${secs(median(largeLink!))} | direct lib-storage Upload ${secs(median(largeDirect!))} | throughput ratio ${ratioWithSpread(largeDirect!, largeLink!)} |`,
    );
    const perGib = (xs: number[]) => median(xs) / gib;
    report(
      `| CPU seconds per GiB, client side (trainer + uploader; aws s3 cp and its children), median of ${ROUNDS} | link ${perGib(cpu.link).toFixed(2)} s, copy ${perGib(cpu.copy).toFixed(2)} s | aws s3 cp ${perGib(cpu.aws).toFixed(2)} s, rclone ${perGib(cpu.rclone).toFixed(2)} s | link ${ratioWithSpread(cpu.link, cpu.aws)} of aws's CPU, copy ${ratioWithSpread(cpu.copy, cpu.aws)} (target ≤ 1.0) |`,
    );
    report(
      `| CPU seconds per GiB at equal integrity (a SHA-256 over every byte on both sides), median of ${ROUNDS} | link ${perGib(cpu.link).toFixed(2)} s | aws s3 cp --checksum-algorithm SHA256 ${perGib(cpu.awsSha256).toFixed(2)} s (${secs(median(largeAwsSha256!))} a round) | ${ratioWithSpread(cpu.link, cpu.awsSha256)} of its CPU (target ≤ 1.0) |`,
    );
    report(
      `| logFile ${gib.toFixed(2)} GiB, link, returns right after the previous round's flush (median of ${ROUNDS}, min–max) | ${ms(median(linkReturned))} (${ms(Math.min(...linkReturned))}–${ms(Math.max(...linkReturned))}) | | (target ≤ 5 ms) |`,
    );
    const gibText = `${gib.toFixed(2)} GiB`;
    target(
      atMost(
        `S3 CPU per GiB, link, bus / aws s3 cp --checksum-algorithm SHA256`,
        pairedRatio(cpu.link, cpu.awsSha256),
        1.0,
        "×",
      ),
    );
    target(
      atMost(`logFile ${gibText}, link, returns after the previous flush (median)`, median(linkReturned), 5, " ms"),
    );
    target(ratioTarget(`S3 ${gibText}, link: bus / aws s3 cp`, largeAws!, largeLink!, 1.0));
    target(ratioTarget(`S3 ${gibText}, link: bus / rclone copyto`, largeRclone!, largeLink!, 1.0));
    target(ratioTarget(`S3 ${gibText}, copy: bus / aws s3 cp`, largeAws!, largeCopy!, 0.95));
    // The plain peer: aws s3 cp sends no SHA-256 of its own by default (equal integrity not measured here).
    target(atMost(`S3 CPU per GiB, link, bus / plain aws s3 cp`, pairedRatio(cpu.link, cpu.aws), 1.0, "×"));
    report(`| uploader peak RSS during the large upload | ${peakMb.toFixed(0)} MB | | (target ≤ 200 MB) |`);
    target(atMost("S3 uploader peak RSS, one large upload", peakMb, 200, " MB", 0));

    // 1b. Idle, and four large uploads in flight at once: the uploader's memory at default part settings.
    await uploaderMemoryRows({ label: "S3", pid: uploader.pid, idleMb, trainer, path: big }, { report, target });

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
      `| ${SMALL_COUNT} × 4 KiB artifacts, median of ${smallRounds} paired rounds | bus end to end ${secs(median(manyBus!))} | direct PutObject ×${CONCURRENCY} ${secs(median(manyDirect!))} | throughput ratio ${ratioWithSpread(manyDirect!, manyBus!)} (target ≥ 0.8) |`,
    );

    // logFile per staging mode: see staging-bench.ts.
    await trainer.close();
    s3.destroy();
  } finally {
    await stack.dispose();
  }
}
