/** SFTP benchmarks: the bus against a direct ssh2 fastPut and the OpenSSH `sftp` client, same sshd. */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { sha256Fingerprint } from "@artifact-bus/sftp-uploader";
import { sftpBatch, writeLargeFile } from "@artifact-bus/shared/testing";
import { Client } from "ssh2";
import { SftpStack } from "../test/harness/sftp-stack.ts";
import { type BenchContext, median, pairedRatio, peakRssMb, ROUNDS, secs, timeRounds } from "./bench-kit.ts";

/**
 * The baseline a user would write by hand: one ssh2 connection pinned to the same host key and
 * `fastPut` with its defaults. Connecting is timed too, as the bus pays for its connection.
 */
async function fastPut(stack: SftpStack, local: string, remote: string): Promise<void> {
  const { sshd } = stack;
  const client = new Client();
  try {
    await new Promise<void>((resolve, reject) => {
      client.once("ready", resolve).once("error", reject);
      client.connect({
        host: sshd.host,
        port: sshd.port,
        username: sshd.username,
        privateKey: readFileSync(sshd.plainKeyPath),
        hostVerifier: (key: Buffer) => sha256Fingerprint(key) === sshd.hostKeySha256Fingerprint,
      });
    });
    await new Promise<void>((resolve, reject) =>
      client.sftp((err, sftp) => {
        if (err) reject(err);
        else sftp.fastPut(local, remote, (e) => (e ? reject(e) : resolve()));
      }),
    );
  } finally {
    client.end();
  }
}

/** A 1 GiB (ctx.largeBytes) artifact through the bus vs the two direct clients, and the uploader's memory. */
export async function runSftpBench({ largeBytes: LARGE, report }: BenchContext): Promise<void> {
  const stack = await SftpStack.start({ destination: { ackWaitMs: 30_000 } });
  try {
    const uploader = await stack.bus.startUploader({ ARTIFACT_BUS_LOG_LEVEL: "info" });
    const idleMb = peakRssMb(uploader.pid);
    const trainer = await stack.bus.trainer();
    const big = join(stack.bus.dir, "big.bin");
    await writeLargeFile(big, LARGE);
    // Each body removes its copy after it, so no run pays for another's dirty pages on disk;
    // all three sides pay for one removal.
    const andRemove = async (remote: string, fn: () => Promise<unknown>) => {
      await fn();
      rmSync(stack.path(remote));
    };
    const viaBus = async (round: number) => {
      const name = `big-${round}.bin`;
      await trainer.publisher.logFile({ project: "bench", run: "large", name, path: big, mode: "link" });
      await trainer.publisher.flush({ timeoutMs: 600_000 });
      rmSync(stack.path(`bench/large/${name}`));
    };
    const [direct, bus, cli] = await timeRounds(ROUNDS, [
      () => andRemove("fastput.bin", () => fastPut(stack, big, stack.path("fastput.bin"))),
      viaBus,
      () => andRemove("cli.bin", () => sftpBatch(stack.sshd, [`put "${big}" "${stack.path("cli.bin")}"`])),
    ]);
    const rssMb = peakRssMb(uploader.pid);

    const size = `${(LARGE / 1024 ** 3).toFixed(2)} GiB artifact, median of ${ROUNDS} paired rounds`;
    report(
      `| ${size} | bus (logFile link + upload + flush) ${secs(median(bus!))} | direct ssh2 fastPut ${secs(median(direct!))} | throughput ratio ${pairedRatio(direct!, bus!).toFixed(2)} (target ≥ 0.9) |`,
    );
    report(
      `| ${size} | bus ${secs(median(bus!))} | OpenSSH sftp batch put ${secs(median(cli!))} | throughput ratio ${pairedRatio(cli!, bus!).toFixed(2)} |`,
    );
    report(
      `| sftp uploader peak RSS during the large uploads | ${rssMb.toFixed(0)} MB | idle ${idleMb.toFixed(0)} MB | |`,
    );
    await trainer.close();
  } finally {
    await stack.dispose();
  }
}
