/**
 * SFTP benchmarks: the bus (its default transport, and the other one beside it) against the
 * OpenSSH `sftp` client, rclone and a direct ssh2 fastPut, same sshd, time and CPU.
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { SftpOptionsSchema, sha256Fingerprint } from "@artifact-bus/sftp-uploader";
import { rssMb, sampleTreeCpu, sftpArgs, treeCpuSeconds, writeLargeFile } from "@artifact-bus/testkit";
import { Client } from "ssh2";
import { SftpStack } from "../test/harness/sftp-stack.ts";
import {
  atMost,
  type BenchContext,
  median,
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
import { rclonePeer } from "./rclone.ts";

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
export async function runSftpBench({ largeBytes: LARGE, report, target }: BenchContext): Promise<void> {
  const stack = await SftpStack.start({ destination: { ackWaitMs: 30_000 } });
  // The transport users do not get by default, on a stack of its own sharing the sshd.
  const otherTransport = SftpOptionsSchema.properties.transport.default === "ssh2" ? "openssh" : "ssh2";
  let other: SftpStack | undefined;
  try {
    other = await SftpStack.start({
      name: "sftp:other",
      sshd: stack.sshd,
      destination: { ackWaitMs: 30_000 },
      sftpOptions: { transport: otherTransport },
    });
    const uploader = await stack.bus.startUploader({ ARTIFACT_BUS_LOG_LEVEL: "info" });
    const idleMb = rssMb(uploader.pid);
    const trainer = await stack.bus.trainer();
    const otherUploader = await other.bus.startUploader({ ARTIFACT_BUS_LOG_LEVEL: "info" });
    const otherTrainer = await other.bus.trainer();
    const big = join(stack.bus.dir, "big.bin");
    await writeLargeFile(big, LARGE);
    // Each body removes its copy after it, so no run pays for another's dirty pages on disk;
    // all three sides pay for one removal.
    const andRemove = async (remote: string, fn: () => Promise<unknown>) => {
      await fn();
      rmSync(stack.path(remote));
    };
    // CPU per round: the client side (trainer = this process, and the uploader; the sftp client
    // and its ssh child) and the server side (sshd's whole process tree, sessions included).
    const cpu = {
      bus: [] as number[],
      other: [] as number[],
      otherSshd: [] as number[],
      cli: [] as number[],
      cliSha256: [] as number[],
      rclone: [] as number[],
      busSshd: [] as number[],
      cliSshd: [] as number[],
    };
    // rclone with its defaults, the host key checked against a known_hosts file as sftp's is.
    const rclone = rclonePeer(stack.bus.dir, {
      type: "sftp",
      host: stack.sshd.host,
      port: String(stack.sshd.port),
      user: stack.sshd.username,
      key_file: stack.sshd.plainKeyPath,
      known_hosts_file: stack.sshd.writeKnownHosts("known_hosts.rclone"),
    });
    const sshdCpu = async (into: number[], fn: () => Promise<void>) => {
      const sshd = sampleTreeCpu(stack.sshd.pid);
      await fn();
      into.push(sshd.stop());
    };
    // The uploader's CPU includes its ssh children's (OpenSSH transport).
    const busRound =
      (on: SftpStack, pid: number, t: typeof trainer, into: number[], sshdInto: number[]) => (round: number) =>
        sshdCpu(sshdInto, async () => {
          const name = `big-${round}.bin`;
          const u0 = treeCpuSeconds(pid);
          const [own] = await ownCpu(async () => {
            await t.publisher.logFile({ project: "bench", run: "large", name, path: big, mode: "link" });
            await t.publisher.flush({ timeoutMs: 600_000 });
          });
          into.push(own + treeCpuSeconds(pid) - u0);
          rmSync(on.path(`bench/large/${name}`));
        });
    const viaBus = busRound(stack, uploader.pid, trainer, cpu.bus, cpu.busSshd);
    const viaOther = busRound(other, otherUploader.pid, otherTrainer, cpu.other, cpu.otherSshd);
    const viaCli = () =>
      sshdCpu(cpu.cliSshd, async () => {
        const remote = stack.path("cli.bin");
        cpu.cli.push(await runMeasured("sftp", sftpArgs(stack.sshd), { input: `put "${big}" "${remote}"\n` }));
        rmSync(remote);
      });
    // The peer at equal integrity: the SHA-256 a careful user records with the upload
    // (`openssl dgst -sha256`, the fastest hasher here: coreutils' sha256sum, without SHA-NI,
    // takes twice its CPU), then the same put. The sshd runs sftp only: no remote check follows.
    const viaCliSha256 = async () => {
      const remote = stack.path("cli-sha256.bin");
      const hashed = await runMeasured("openssl", ["dgst", "-sha256", big]);
      cpu.cliSha256.push(
        hashed + (await runMeasured("sftp", sftpArgs(stack.sshd), { input: `put "${big}" "${remote}"\n` })),
      );
      rmSync(remote);
    };
    const viaRclone = () =>
      andRemove("rclone.bin", async () => cpu.rclone.push(await rclone.copyTo(big, stack.path("rclone.bin"))));
    const [cli, bus, otherBus, direct, rcloneTimes, cliSha256] = await timeRounds(ROUNDS, [
      viaCli,
      viaBus,
      viaOther,
      () => andRemove("fastput.bin", () => fastPut(stack, big, stack.path("fastput.bin"))),
      viaRclone,
      viaCliSha256,
    ]);
    const peakMb = peakRssMb(uploader.pid);

    const gib = LARGE / 1024 ** 3;
    const size = `${gib.toFixed(2)} GiB artifact, median of ${ROUNDS} paired rounds`;
    report(
      `| ${size} | bus (logFile link + upload + flush) ${secs(median(bus!))} | OpenSSH sftp put ${secs(median(cli!))} | throughput ratio ${ratioWithSpread(cli!, bus!)} (target ≥ 1.0) |`,
    );
    report(
      `| ${size} | bus ${secs(median(bus!))} | \`${rclone.version}\` copyto ${secs(median(rcloneTimes!))} | throughput ratio ${ratioWithSpread(rcloneTimes!, bus!)} (target ≥ 1.0) |`,
    );
    report(
      `| ${size} | bus ${secs(median(bus!))} | bus with transport ${otherTransport} ${secs(median(otherBus!))} | throughput ratio ${ratioWithSpread(otherBus!, bus!)} |`,
    );
    report(
      `| ${size} | bus ${secs(median(bus!))} | direct ssh2 fastPut ${secs(median(direct!))} | throughput ratio ${ratioWithSpread(direct!, bus!)} |`,
    );
    const perGib = (xs: number[]) => (median(xs) / gib).toFixed(2);
    const sum = (a: number[], b: number[]) => a.map((x, i) => x + b[i]!);
    report(
      `| CPU seconds per GiB, client side (trainer + uploader; sftp and its ssh; rclone) | ${perGib(cpu.bus)} s | sftp ${perGib(cpu.cli)} s, rclone ${perGib(cpu.rclone)} s | ${ratioWithSpread(cpu.bus, cpu.cli)} of sftp's CPU (target ≤ 1.0) |`,
    );
    report(
      `| CPU seconds per GiB at equal integrity (a SHA-256 over every byte on the client side; the bus makes two: at logFile and of the bytes it sends) | ${perGib(cpu.bus)} s | openssl dgst -sha256, then sftp put ${perGib(cpu.cliSha256)} s (${secs(median(cliSha256!))} a round) | ${ratioWithSpread(cpu.bus, cpu.cliSha256)} of its CPU (target ≤ 1.0) |`,
    );
    report(
      `| CPU seconds per GiB, client side, bus with transport ${otherTransport} | ${perGib(cpu.other)} s | sftp ${perGib(cpu.cli)} s | ${ratioWithSpread(cpu.other, cpu.cli)} of sftp's CPU |`,
    );
    const gibText = `${gib.toFixed(2)} GiB`;
    target(ratioTarget(`SFTP ${gibText}, link: bus / OpenSSH sftp`, cli!, bus!, 1.0));
    target(ratioTarget(`SFTP ${gibText}, link: bus / rclone copyto`, rcloneTimes!, bus!, 1.0));
    target(atMost("SFTP CPU per GiB, bus / sftp (client side)", pairedRatio(cpu.bus, cpu.cli), 1.0, "×"));
    target(
      atMost(
        "SFTP CPU per GiB, bus / openssl sha256 + sftp (equal integrity)",
        pairedRatio(cpu.bus, cpu.cliSha256),
        1.0,
        "×",
      ),
    );
    target(atMost("SFTP uploader peak RSS, large uploads", peakMb, 200, " MB", 0));
    report(
      `| CPU seconds per GiB, with sshd (its whole process tree) | ${perGib(sum(cpu.bus, cpu.busSshd))} s (sshd ${perGib(cpu.busSshd)} s) | ${perGib(sum(cpu.cli, cpu.cliSshd))} s (sshd ${perGib(cpu.cliSshd)} s) | ${ratioWithSpread(sum(cpu.bus, cpu.busSshd), sum(cpu.cli, cpu.cliSshd))} of the peer's CPU |`,
    );
    report(
      `| sftp uploader peak RSS during the large uploads | ${peakMb.toFixed(0)} MB | idle ${idleMb.toFixed(0)} MB | |`,
    );
    await uploaderMemoryRows({ label: "SFTP", pid: uploader.pid, idleMb, trainer, path: big }, { report, target });
    await trainer.close();
    await otherTrainer.close();
  } finally {
    await other?.dispose();
    await stack.dispose();
  }
}
