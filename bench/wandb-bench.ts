/**
 * W&B benchmark: a 1 GiB artifact through the bus against the double, versus a direct client of
 * the same protocol (same double, same run): the adapter called in-process on the plain file, with
 * no staging, no NATS and no sha256 check, as a script using the protocol by hand would upload.
 */
import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { type Artifact, fileReader, silentLogger } from "@artifact-bus/shared";
import { cpuSeconds, rssMb, testContext, testEvent, writeLargeFile } from "@artifact-bus/testkit";
import { WandbDestination } from "../services/wandb-uploader/src/wandb-destination.ts";
import { WandbStack } from "../test/harness/wandb-stack.ts";
import {
  atMost,
  type BenchContext,
  logAndFlush,
  median,
  ownCpu,
  peakRssMb,
  ROUNDS,
  ratioTarget,
  ratioWithSpread,
  runMeasured,
  secs,
  timeRounds,
  uploaderMemoryRows,
} from "./bench-kit.ts";

/** The file as a direct client reads it: no staging, nothing checked. */
function plainFile(path: string, size: number, name: string): Artifact {
  return {
    event: testEvent({ project: "direct", run: "bench", name, size, sha256: "0".repeat(64) }),
    streamSeq: 0,
    read: async () => readFile(path),
    openReader: async () => fileReader(await open(path, "r")),
  };
}

export async function runWandbBench({ largeBytes: LARGE, report, target }: BenchContext): Promise<void> {
  const stack = await WandbStack.start({ destination: { ackWaitMs: 30_000 } });
  const direct = new WandbDestination({
    name: "wandb:direct",
    options: { baseUrl: stack.double.baseUrl, entity: "team" },
    apiKey: stack.double.apiKey,
    log: silentLogger,
  });
  try {
    const uploader = await stack.bus.startUploader({ ARTIFACT_BUS_LOG_LEVEL: "info" });
    const idleMb = rssMb(uploader.pid);
    const trainer = await stack.bus.trainer();
    const big = join(stack.bus.dir, "big.bin");
    await writeLargeFile(big, LARGE);
    // Each round its own artifact name: the same bytes under one name would be deduplicated.
    // CPU per round: the direct client is this process; the bus is the trainer (this process) and the uploader.
    const cpu = { direct: [] as number[], directSha256: [] as number[], bus: [] as number[], uploader: [] as number[] };
    const [directTimes, busTimes, directSha256Times] = await timeRounds(ROUNDS, [
      async (round) => {
        const [own] = await ownCpu(() => direct.upload(plainFile(big, LARGE, `direct-${round}.bin`), testContext()));
        cpu.direct.push(own);
      },
      async (round) => {
        const u0 = cpuSeconds(uploader.pid);
        const [own] = await ownCpu(() => logAndFlush(trainer, big, round));
        const used = cpuSeconds(uploader.pid) - u0;
        cpu.uploader.push(used);
        cpu.bus.push(own + used);
      },
      // The peer at equal integrity: the SHA-256 a careful user records with the upload
      // (`openssl dgst -sha256`, not coreutils' sha256sum, which takes twice its CPU here), as the
      // bus's logFile hashes before the event exists; then the same client.
      async (round) => {
        const hashed = await runMeasured("openssl", ["dgst", "-sha256", big]);
        const [own] = await ownCpu(() =>
          direct.upload(plainFile(big, LARGE, `direct-sha-${round}.bin`), testContext()),
        );
        cpu.directSha256.push(hashed + own);
      },
    ]);
    report(
      `| ${(LARGE / 1024 ** 3).toFixed(2)} GiB artifact, median of ${ROUNDS} paired rounds | bus (logFile link + upload + flush) ${secs(median(busTimes!))} | direct client of the protocol ${secs(median(directTimes!))} | throughput ratio ${ratioWithSpread(directTimes!, busTimes!)} (target ≥ 0.95) |`,
    );
    report(
      `| ${(LARGE / 1024 ** 3).toFixed(2)} GiB artifact, median of ${ROUNDS} paired rounds, at equal integrity | bus ${secs(median(busTimes!))} | openssl dgst -sha256, then the direct client ${secs(median(directSha256Times!))} | throughput ratio ${ratioWithSpread(directSha256Times!, busTimes!)} |`,
    );
    const perGib = (xs: number[]) => (median(xs) / (LARGE / 1024 ** 3)).toFixed(2);
    report(
      `| CPU seconds per GiB, client side, median of ${ROUNDS} | bus ${perGib(cpu.bus)} s (uploader ${perGib(cpu.uploader)} s) | direct client ${perGib(cpu.direct)} s | ${ratioWithSpread(cpu.bus, cpu.direct)} of the direct client's CPU |`,
    );
    report(
      `| CPU seconds per GiB, client side, at equal integrity, median of ${ROUNDS} | bus ${perGib(cpu.bus)} s | openssl dgst -sha256, then the direct client ${perGib(cpu.directSha256)} s | ${ratioWithSpread(cpu.bus, cpu.directSha256)} of its CPU |`,
    );
    const rss = peakRssMb(uploader.pid);
    report(`| wandb uploader peak RSS during the large uploads | ${rss.toFixed(0)} MB | | (target ≤ 200 MB) |`);
    const gib = `${(LARGE / 1024 ** 3).toFixed(2)} GiB`;
    target(ratioTarget(`W&B ${gib}: bus / direct client of the protocol`, directTimes!, busTimes!, 0.95));
    target(atMost("W&B uploader peak RSS, large uploads", rss, 200, " MB", 0));
    await uploaderMemoryRows({ label: "W&B", pid: uploader.pid, idleMb, trainer, path: big }, { report, target });
    await trainer.close();
  } finally {
    await direct.close();
    await stack.dispose();
  }
}
