/**
 * Many trainers at once: LOAD_PROCESSES processes × LOAD_CONNECTIONS connections, each logging
 * 4 KiB artifacts back to back for LOAD_SECONDS to a `dir` destination (which costs next to
 * nothing, so the bus's own cost shows), served by LOAD_UPLOADERS uploader replicas. The baseline
 * is the same number of bare JetStream publishes of the same events from as many connections,
 * measured in the same run: the ceiling of the server and client on this machine.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { connectNats, EVENTS_PREFIX, EVENTS_STREAM, eventSubject, LEDGER_BUCKET } from "@artifact-bus/shared";
import { cpuSeconds, peakRssMb } from "@artifact-bus/testkit";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { BusStack } from "../test/harness/bus-stack.ts";
import { atLeast, atMost, type BenchContext, median } from "./bench-kit.ts";

const PROCESSES = Number(process.env.LOAD_PROCESSES ?? 4);
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 64);
const SECONDS = Number(process.env.LOAD_SECONDS ?? 60);
const UPLOADERS = Number(process.env.LOAD_UPLOADERS ?? 2);
const SIZE = 4096;
const TRAINER = resolve(import.meta.dirname, "load-trainer.ts");
const DIR_MAIN = resolve(import.meta.dirname, "../services/dir-uploader/src/main.ts");
/**
 * LOAD_PROFILE_DIR: trainers and uploaders write V8 CPU profiles there (`--cpu-prof`), summed up
 * by `node bench/profile-summary.ts DIR`. Uploaders are then stopped by SIGTERM, so they write theirs.
 */
const PROFILE_DIR = process.env.LOAD_PROFILE_DIR;
/**
 * Where the staging dir and the destination root go: a RAM disk (/dev/shm) where there is one,
 * so the destination costs nothing indeed and the bus's own cost shows. On this machine's ext4,
 * creating a 4 KiB file costs 0.2–0.8 ms of kernel CPU (two new files per artifact: the staged
 * blob and the destination's copy), more than the bus itself; LOAD_FS=disk measures that.
 */
const FS_DIR = process.env.LOAD_FS === "disk" || !existsSync("/dev/shm") ? tmpdir() : "/dev/shm";
const profiled = (): Record<string, string> =>
  PROFILE_DIR ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --cpu-prof --cpu-prof-dir=${PROFILE_DIR}` } : {};

interface TrainerSummary {
  run: string;
  started: number;
  publishedAt: number;
  publishMs: number[];
  toUploaded: number[];
  lastUploadAt: number;
  flushEnds: number[];
  /** Per trainer: its flush's return minus its own last artifact's upload (ms). */
  flushLags: number[];
  uploadedWhilePublishing: number;
  errors: Record<string, number>;
  cpuSeconds: number;
  /** The flush phase: its CPU, and the messages the trainers' connections sent and received. */
  flush: { cpuSeconds: number; sent: number; received: number };
  peakRssMb: number;
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const ms = (x: number) => `${x.toFixed(x < 10 ? 1 : 0)} ms`;

function startTrainer(stack: BusStack, run: string) {
  const proc: ChildProcess = spawn(process.execPath, [TRAINER], {
    env: {
      ...process.env,
      ARTIFACT_BUS_CONFIG: stack.configPath,
      ARTIFACT_BUS_LOG_LEVEL: "warn",
      LOAD_DIR: stack.dir,
      LOAD_RUN: run,
      LOAD_CONNECTIONS: String(CONNECTIONS),
      LOAD_SECONDS: String(SECONDS),
      LOAD_SIZE: String(SIZE),
      ...profiled(),
    },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines: unknown[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: proc.stdout! }).on("line", (line) => {
    lines.push(JSON.parse(line));
    for (const w of waiters.splice(0)) w();
  });
  const line = async <T>(n: number): Promise<T> => {
    while (lines.length < n) {
      if (proc.exitCode !== null) throw new Error(`load trainer ${run} exited with ${proc.exitCode}`);
      await new Promise<void>((r) => waiters.push(r));
    }
    return lines[n - 1] as T;
  };
  proc.once("exit", () => {
    for (const w of waiters.splice(0)) w();
  });
  return { proc, line };
}

const summariesCount = (s: TrainerSummary[]) => s.reduce((n, x) => n + x.toUploaded.length, 0);

/** Bare JetStream publishes of 4 KiB-artifact-sized events, `connections` at once, for `seconds`. */
async function baselinePublishRate(
  stack: BusStack,
  connections: number,
  seconds: number,
): Promise<{ rate: number; count: number }> {
  const body = new TextEncoder().encode("x".repeat(700)); // about one event's JSON
  const conns = await Promise.all(
    Array.from({ length: connections }, () => connectNats(stack.config.nats, { name: "load-baseline" })),
  );
  let n = 0;
  const deadline = Date.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    conns.map(async (nc, c) => {
      const js = jetstream(nc);
      for (let i = 0; Date.now() < deadline; i++) {
        // Not a destination's subject: the stream stores it and no uploader sees it.
        await js.publish(eventSubject({ project: "baseline", run: `c${c}`, level: "fit", name: `x-${i}` }), body);
        n++;
      }
    }),
  );
  const rate = n / ((performance.now() - t0) / 1000);
  await Promise.all(conns.map((nc) => nc.close()));
  // Tens of thousands of subjects left in the stream would weigh on what follows (listing the
  // destinations costs in proportion to them): the trainers start on an empty stream.
  const jsm = await jetstreamManager(stack.nc);
  await jsm.streams.purge(EVENTS_STREAM, { filter: `${EVENTS_PREFIX}.baseline.>` });
  return { rate, count: n };
}

export async function runLoadBench({ report, target }: BenchContext): Promise<void> {
  const root = mkdtempSync(join(FS_DIR, "artifact-bus-load-"));
  const stack = await BusStack.start({
    dir: mkdtempSync(join(FS_DIR, "artifact-bus-load-stack-")),
    destination: {
      name: "dir:load",
      filter: { project: "load", run: "*", level: "*" },
      concurrency: 64,
      ackWaitMs: 30_000,
      options: { root },
    },
    main: DIR_MAIN,
  });
  try {
    const uploaders = await Promise.all(
      Array.from({ length: UPLOADERS }, () => stack.startUploader({ ARTIFACT_BUS_LOG_LEVEL: "info", ...profiled() })),
    );
    const pids = [stack.nats.pid, ...uploaders.map((u) => u.pid)];
    const natsBefore = cpuSeconds(stack.nats.pid);
    const baseline = await baselinePublishRate(stack, PROCESSES * CONNECTIONS, Math.min(SECONDS, 15));
    const natsPerBarePublish = (1000 * (cpuSeconds(stack.nats.pid) - natsBefore)) / baseline.count;
    const cpu0 = pids.map(cpuSeconds);
    const jsm = await jetstreamManager(stack.nc);
    const kvWrites = async () => (await jsm.streams.info(`KV_${LEDGER_BUCKET}`)).state.last_seq;
    const kv0 = await kvWrites();
    const deliveries0 = (await stack.consumerInfo()).delivered.consumer_seq;

    const trainers = Array.from({ length: PROCESSES }, (_, i) => startTrainer(stack, `run-${i}`));
    const published = await Promise.all(
      trainers.map((t) => t.line<{ published: number; ms: number; cpuSeconds: number }>(1)),
    );
    const cpuMid = pids.map(cpuSeconds);
    for (const t of trainers) t.proc.stdin!.write("flush\n");
    const summaries = await Promise.all(trainers.map((t) => t.line<TrainerSummary>(2)));
    const cpu1 = pids.map(cpuSeconds);
    const kvPerArtifact = ((await kvWrites()) - kv0) / Math.max(1, summariesCount(summaries));
    const deliveriesPerArtifact =
      ((await stack.consumerInfo()).delivered.consumer_seq - deliveries0) / Math.max(1, summariesCount(summaries));

    const started = Math.min(...summaries.map((s) => s.started));
    const total = published.reduce((n, p) => n + p.published, 0);
    const publishRate = total / (Math.max(...published.map((p) => p.ms)) / 1000);
    const lastUpload = Math.max(...summaries.map((s) => s.lastUploadAt));
    const uploaded = summaries.reduce((n, s) => n + s.toUploaded.length, 0);
    const uploadRate = uploaded / ((lastUpload - started) / 1000);
    const publishMs = summaries.flatMap((s) => s.publishMs);
    const toUploaded = summaries.flatMap((s) => s.toUploaded);
    const flushLag = summaries.flatMap((s) => s.flushLags);
    const errors = summaries.flatMap((s) => Object.entries(s.errors));

    const who = `${PROCESSES} processes × ${CONNECTIONS} connections, ${SECONDS} s, 4 KiB, ${UPLOADERS} dir uploaders, staging and root in ${FS_DIR}`;
    report(
      `| published/s (${who}) | ${publishRate.toFixed(0)}/s (${total} artifacts) | bare JetStream publish from ${PROCESSES * CONNECTIONS} connections ${baseline.rate.toFixed(0)}/s | ${(publishRate / baseline.rate).toFixed(2)} (target ≥ 0.9 of bare) |`,
    );
    target(
      atLeast("Many trainers, 4 KiB: published / bare JetStream publish", publishRate / baseline.rate, 0.9, "", 2),
    );
    target(atLeast("Many trainers, 4 KiB: uploaded/s", uploadRate, 2000, "/s"));
    target(
      atMost(
        "Many trainers: slowest flush's return after its trainer's own last upload",
        Math.max(0, ...flushLag) / 1000,
        1,
        " s",
      ),
    );
    report(
      `| uploaded/s, first publish to last upload | ${uploadRate.toFixed(0)}/s (${uploaded} uploaded) | | (target ≥ 2000/s) |`,
    );
    report(
      `| publish latency (logFile) p50 / p99 | ${ms(percentile(publishMs, 50))} / ${ms(percentile(publishMs, 99))} | | |`,
    );
    report(
      `| logged-to-uploaded p50 / p99 | ${ms(percentile(toUploaded, 50))} / ${ms(percentile(toUploaded, 99))} | | |`,
    );
    report(
      `| flush of all ${PROCESSES * CONNECTIONS} at once: return after the trainer's own last upload, median / max | ${ms(median(flushLag))} / ${ms(Math.max(...flushLag))} | | (target ≤ 1 s) |`,
    );
    const cpu = cpu1.map((c, i) => c - cpu0[i]!);
    const trainerCpu = summaries.reduce((n, s) => n + s.cpuSeconds, 0);
    const wall = (lastUpload - started) / 1000;
    report(
      `| CPU seconds over ${wall.toFixed(0)} s: nats-server / uploaders / trainers | ${cpu[0]!.toFixed(1)} / ${cpu
        .slice(1)
        .map((c) => c.toFixed(1))
        .join(
          " + ",
        )} / ${summaries.map((s) => s.cpuSeconds.toFixed(1)).join(" + ")} | | ${((1000 * (cpu.reduce((a, b) => a + b, 0) + trainerCpu)) / Math.max(1, uploaded)).toFixed(2)} ms CPU per artifact, all processes |`,
    );
    report(
      `| peak RSS: nats-server / uploaders / trainers | ${peakRssMb(stack.nats.pid).toFixed(0)} / ${uploaders.map((u) => peakRssMb(u.pid).toFixed(0)).join(" + ")} / ${summaries.map((s) => s.peakRssMb.toFixed(0)).join(" + ")} MB | | |`,
    );
    const phase = cpuMid.map((c, i) => c - cpu0[i]!);
    const publishWall = Math.max(...published.map((p) => p.ms)) / 1000;
    const trainerPublishCpu = published.reduce((n, p) => n + p.cpuSeconds, 0);
    const uploadedEarly = summaries.reduce((n, s) => n + s.uploadedWhilePublishing, 0);
    report(
      `| CPU seconds while publishing (${publishWall.toFixed(0)} s, ${uploadedEarly} uploaded meanwhile): nats-server / uploaders / trainers | ${phase[0]!.toFixed(1)} / ${phase
        .slice(1)
        .map((c) => c.toFixed(1))
        .join(" + ")} / ${published.map((p) => p.cpuSeconds.toFixed(1)).join(" + ")} | | |`,
    );
    const cpuPerArtifactMs = (1000 * (cpu.reduce((a, b) => a + b, 0) + trainerCpu)) / Math.max(1, uploaded);
    target(atMost("Many trainers, 4 KiB: CPU per artifact, all processes", cpuPerArtifactMs, 1.0, " ms"));
    const per = (sec: number, n: number) => ((1000 * sec) / Math.max(1, n)).toFixed(2);
    const uploaderCpu = cpu.slice(1).reduce((a, b) => a + b, 0);
    report(
      `| ms of CPU per artifact: trainer logFile / uploader / nats-server (whole run) | ${per(trainerPublishCpu, total)} / ${per(uploaderCpu, uploaded)} / ${per(cpu[0]!, uploaded)} | nats-server per bare publish ${natsPerBarePublish.toFixed(3)} | |`,
    );
    report(
      `| per artifact: KV writes (lease and ledger; the bench's final reads are not writes) / deliveries of its event | ${kvPerArtifact.toFixed(2)} / ${deliveriesPerArtifact.toFixed(2)} | | |`,
    );
    // The flush phase: from the `flush` line to the last summary (which includes each trainer's
    // final read of its run's ledger, a few seconds of nats-server at most).
    const flushPhase = cpu.map((c, i) => c - phase[i]!);
    const flushWall =
      (Math.max(...summaries.flatMap((s) => s.flushEnds)) - Math.max(...summaries.map((s) => s.publishedAt))) / 1000;
    report(
      `| CPU seconds while flushing (${flushWall.toFixed(0)} s, ${uploaded - uploadedEarly} uploaded meanwhile): nats-server / uploaders / trainers | ${flushPhase[0]!.toFixed(1)} / ${flushPhase
        .slice(1)
        .map((c) => c.toFixed(1))
        .join(" + ")} / ${summaries.map((s) => s.flush.cpuSeconds.toFixed(1)).join(" + ")} | | |`,
    );
    const flushSent = summaries.reduce((n, s) => n + s.flush.sent, 0);
    const flushReceived = summaries.reduce((n, s) => n + s.flush.received, 0);
    report(
      `| flush phase, per artifact logged: trainers' messages sent (KV gets, a few API requests) / received beyond the replies (watch deliveries) / ms of CPU: trainers + nats-server | ${(flushSent / Math.max(1, total)).toFixed(2)} / ${((flushReceived - flushSent) / Math.max(1, total)).toFixed(2)} / ${per(
        summaries.reduce((n, s) => n + s.flush.cpuSeconds, 0),
        total,
      )} + ${per(flushPhase[0]!, total)} | | |`,
    );
    if (errors.length) report(`| publish errors | ${errors.map(([m, n]) => `${n}× ${m}`).join("; ")} | | |`);
    if (PROFILE_DIR) await Promise.all(uploaders.map((u) => u.kill("SIGTERM")));
  } finally {
    await stack.dispose();
    rmSync(root, { recursive: true, force: true });
  }
}
