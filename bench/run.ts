/**
 * `npm run bench`: artifact-bus against a direct baseline measured in the same run, on the same
 * servers, so the ratios hold on a noisy shared machine. Writes bench/RESULTS.md.
 */
import { execFileSync } from "node:child_process";
import { createReadStream, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { writeLargeFile, writeRandomFile } from "../test/harness/files.ts";
import { S3Stack } from "../test/harness/s3-stack.ts";

const GiB = 1024 ** 3;
const LARGE = Number(process.env.BENCH_LARGE_BYTES ?? GiB);
const SMALL_COUNT = Number(process.env.BENCH_SMALL_COUNT ?? 2000);
const SMALL_SIZE = 4096;
const PART = 16 * 1024 * 1024;
const QUEUE = 4;
const CONCURRENCY = 16;

const rows: string[] = [];
function report(line: string) {
  console.log(line);
  rows.push(line);
}
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const out = await fn();
  return [performance.now() - t0, out];
}

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
  const [direct] = await time(() =>
    new Upload({
      client: s3,
      params: {
        Bucket: stack.bucket,
        Key: "direct/big.bin",
        Body: createReadStream(big, { highWaterMark: 1 << 20 }),
        ChecksumAlgorithm: "SHA256",
      },
      partSize: PART,
      queueSize: QUEUE,
    }).done(),
  );
  const [bus] = await time(async () => {
    await trainer.publisher.logFile({ project: "bench", run: "large", name: "big.bin", path: big, mode: "link" });
    await trainer.publisher.flush({ timeoutMs: 600_000 });
  });
  const rssKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${uploader.pid}/status`, "utf8"))?.[1] ?? 0);
  report(
    `| ${(LARGE / GiB).toFixed(2)} GiB artifact | bus (logFile link + upload + flush) ${secs(bus)} | direct lib-storage Upload ${secs(direct)} | throughput ratio ${(direct / bus).toFixed(2)} (target ≥ 0.9) |`,
  );
  report(`| uploader peak RSS during the large upload | ${(rssKb / 1024).toFixed(0)} MB | | (target ≤ 200 MB) |`);

  // 2. Many small artifacts end to end vs direct PutObject at the same concurrency.
  const small = join(stack.bus.dir, "small.bin");
  writeRandomFile(small, SMALL_SIZE);
  const body = readFileSync(small);
  const [directSmall] = await time(async () => {
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < SMALL_COUNT) {
          const i = next++;
          await s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: `direct/small/${i}`, Body: body }));
        }
      }),
    );
  });
  const [busSmall] = await time(async () => {
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < SMALL_COUNT) {
          const i = next++;
          await trainer.publisher.logFile({ project: "bench", run: "small", name: `s/${i}`, path: small });
        }
      }),
    );
    await trainer.publisher.flush({ timeoutMs: 600_000 });
  });
  report(
    `| ${SMALL_COUNT} × 4 KiB artifacts | bus end to end ${secs(busSmall)} | direct PutObject ×${CONCURRENCY} ${secs(directSmall)} | throughput ratio ${(directSmall / busSmall).toFixed(2)} (target ≥ 0.8) |`,
  );

  // 3. logFile of the large file per staging mode vs cp.
  const [cp] = await time(async () => execFileSync("cp", [big, join(stack.bus.dir, "cp.bin")]));
  rmSync(join(stack.bus.dir, "cp.bin"));
  for (const mode of ["copy", "link", "move"] as const) {
    const src = mode === "move" ? join(stack.bus.dir, "move.bin") : big;
    if (mode === "move") execFileSync("cp", [big, src]);
    const [ms] = await time(() =>
      trainer.publisher.logFile({ project: "bench", run: "staging", name: `stage-${mode}.bin`, path: src, mode }),
    );
    report(
      `| logFile ${(LARGE / GiB).toFixed(2)} GiB, mode ${mode} | ${secs(ms)} | cp ${secs(cp)} | ratio to cp ${(ms / cp).toFixed(2)} |`,
    );
  }
  await trainer.publisher.flush({ timeoutMs: 600_000 });
  await trainer.close();
  s3.destroy();
} finally {
  await stack.dispose();
}

const cpu = cpus()[0]?.model ?? "unknown cpu";
const natsVersion = execFileSync("nats-server", ["--version"]).toString().trim();
const machine = `${cpus().length} × ${cpu}, ${(totalmem() / GiB).toFixed(0)} GiB RAM, Node ${process.version}, ${natsVersion}, s3rver (S3-compatible, own process), staging on ${statSync("/tmp").dev === statSync(".").dev ? "the same" : "another"} filesystem as the repo`;
const results = resolve(import.meta.dirname, "RESULTS.md");
writeFileSync(
  results,
  `# Benchmark results\n\nLatest \`npm run bench\` (${new Date().toISOString().slice(0, 10)}), on ${machine}.\nRatios compare artifact-bus with a direct baseline measured in the same run against the same servers.\n\n| what | artifact-bus | baseline | ratio |\n|---|---|---|---|\n${rows.join("\n")}\n`,
);
console.log(`\nwrote ${results}`);
