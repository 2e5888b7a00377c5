/**
 * Gateway benchmarks, each against a bare Node `http` server in its own process doing the same
 * integrity or durability work: a large PUT with curl through the gateway into fs staging versus
 * `curl -T` of the same file to a bare server that writes it and computes its sha256 (equal
 * integrity; the bare server that only writes is reported beside it), with each server's CPU
 * per GiB and the gateway's peak resident set during those PUTs; 4 KiB PUTs from 16
 * concurrent clients versus the same PUTs to a bare server that writes and fsyncs each body
 * before it answers (equal durability); then the gateway's memory with 256 clients waiting on
 * `/wait` (gateway-memory.ts). No uploader runs: the gateway only stages and
 * publishes, so the rows measure the gateway itself.
 */
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { cpuSeconds, peakRssMb, resetPeakRss, writeLargeFile, writeRandomFile } from "@artifact-bus/testkit";
import { GatewayStack } from "../test/harness/gateway-stack.ts";
import {
  atMost,
  type BenchContext,
  forEachConcurrently,
  median,
  ROUNDS,
  ratioTarget,
  secs,
  spread,
  time,
  timeRounds,
} from "./bench-kit.ts";
import { runGatewayWaitersMemory } from "./gateway-memory.ts";

const CONCURRENCY = 16;

/**
 * What a bare server does with each PUT body besides writing it to a file: nothing, hash it
 * (sha256, as it streams past), or fsync the file before it answers.
 */
type BareWork = "write" | "sha256" | "fsync";

/** A bare Node http server in its own process that writes each PUT body to `dir`; resolves with its port. */
async function bareServer(dir: string, work: BareWork) {
  const code = `
    const { createServer } = require("node:http");
    const { createHash } = require("node:crypto");
    const { createWriteStream } = require("node:fs");
    const work = ${JSON.stringify(work)};
    let n = 0;
    const srv = createServer((req, res) => {
      const hash = work === "sha256" ? createHash("sha256") : undefined;
      if (hash) req.on("data", (c) => hash.update(c));
      const out = createWriteStream(${JSON.stringify(dir)} + "/put-" + n++, { flush: work === "fsync" });
      // flush: fsync before the file is closed, so "close" comes after the fsync.
      req.pipe(out).on(work === "fsync" ? "close" : "finish", () => res.end(hash ? hash.digest("hex") : "ok"));
    });
    srv.listen(0, "127.0.0.1", () => console.log(srv.address().port));`;
  const proc = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = (await once(proc.stdout, "data")) as [Buffer];
  return { port: Number(line.toString().trim()), pid: proc.pid ?? -1, stop: () => proc.kill() };
}

function curlPut(file: string, url: string, token?: string): void {
  const auth = token ? ["-H", `Authorization: Bearer ${token}`] : [];
  execFileSync("curl", ["-sS", "--fail", "-o", "/dev/null", "-T", file, ...auth, url]);
}

export async function runGatewayBench({ largeBytes, smallCount, report, target }: BenchContext): Promise<void> {
  const stack = await GatewayStack.start({ uploader: false });
  const staging = join(stack.bus.dir, "staging");
  const smallDir = join(stack.bus.dir, "bare-small");
  mkdirSync(smallDir, { recursive: true });
  const bare = await bareServer(staging, "write");
  const hashing = await bareServer(staging, "sha256");
  const syncing = await bareServer(smallDir, "fsync");
  const unsyncedDir = join(stack.bus.dir, "bare-small-unsynced");
  mkdirSync(unsyncedDir, { recursive: true });
  const writing = await bareServer(unsyncedDir, "write");
  try {
    const token = stack.token(["bench"], ["publish", "read"]);
    await stack.reload();
    const big = join(stack.bus.dir, "big.bin");
    await writeLargeFile(big, largeBytes);

    // 1. Large PUT: curl through the gateway vs curl to the bare servers, same file, same disk.
    // Each side starts with the other's file gone and flushed: otherwise whichever runs second
    // is throttled by the first one's dirty pages being written back.
    const fresh = () => {
      rmSync(staging, { recursive: true, force: true });
      mkdirSync(staging, { recursive: true });
      execFileSync("sync");
    };
    const bareTimes: number[] = [];
    const hashingTimes: number[] = [];
    const gatewayTimes: number[] = [];
    // CPU seconds of the server's process per PUT: wall times swing with the load of the shared
    // cores, the CPU a process spends on a GiB much less.
    const hashingCpu: number[] = [];
    const gatewayCpu: number[] = [];
    const cpuOf = async (pid: number, into: number[], put: () => void) => {
      const before = cpuSeconds(pid);
      const [ms] = await time(async () => put());
      into.push(cpuSeconds(pid) - before);
      return ms;
    };
    resetPeakRss(stack.gateway.pid);
    for (let round = 0; round < ROUNDS; round++) {
      fresh();
      bareTimes.push((await time(async () => curlPut(big, `http://127.0.0.1:${bare.port}/`)))[0]);
      fresh();
      hashingTimes.push(await cpuOf(hashing.pid, hashingCpu, () => curlPut(big, `http://127.0.0.1:${hashing.port}/`)));
      fresh();
      const url = `${stack.url}/v1/projects/bench/runs/large/artifacts/big-${round}.bin`;
      gatewayTimes.push(await cpuOf(stack.gateway.pid, gatewayCpu, () => curlPut(big, url, token)));
    }
    const gatewayPeakMb = peakRssMb(stack.gateway.pid);
    const gib = `${(largeBytes / 1024 ** 3).toFixed(2)} GiB`;
    const large = `${gib} PUT with curl, median of ${ROUNDS} paired rounds`;
    const gatewaySide = `gateway to fs staging (sha256 on the way, published) ${secs(median(gatewayTimes))}`;
    report(
      `| ${large} | ${gatewaySide} | curl -T to a bare Node http server writing the file and computing its sha256 ${secs(median(hashingTimes))} | throughput ratio ${spread(hashingTimes, gatewayTimes)} (target ≥ 0.95) |`,
    );
    report(
      `| ${large} | ${gatewaySide} | curl -T to a bare Node http server writing the file, no hash ${secs(median(bareTimes))} | throughput ratio ${spread(bareTimes, gatewayTimes)} |`,
    );
    const perGib = (cpu: number[]) => `${(median(cpu) / (largeBytes / 1024 ** 3)).toFixed(2)} s`;
    report(
      `| CPU seconds per GiB of the server process, ${large} | gateway ${perGib(gatewayCpu)} | bare Node http server with sha256 ${perGib(hashingCpu)} | ${(median(gatewayCpu) / median(hashingCpu)).toFixed(2)}× the bare server's CPU |`,
    );
    report(
      `| gateway peak resident set during the ${gib} PUTs | ${gatewayPeakMb.toFixed(0)} MB | | (target ≤ 200 MB) |`,
    );
    target(ratioTarget(`Gateway ${gib} PUT: gateway / bare server with sha256`, hashingTimes, gatewayTimes, 0.95));
    target(atMost(`Gateway peak RSS during the ${gib} PUTs`, gatewayPeakMb, 200, " MB", 0));
    fresh();

    // 2. Small PUTs, 16 clients, vs the same PUTs to a bare server that fsyncs each body: the
    // gateway answers 202 once the event is durable (the PubAck).
    const small = join(stack.bus.dir, "small.bin");
    writeRandomFile(small, 4096);
    const body = readFileSync(small);
    const latencies: number[] = [];
    const rounds = ROUNDS * 2;
    const put = async (url: string, auth: string | undefined, expect: number) => {
      const r = await fetch(url, { method: "PUT", body, ...(auth ? { headers: { authorization: auth } } : {}) });
      await r.arrayBuffer();
      if (r.status !== expect) throw new Error(`PUT answered ${r.status}`);
    };
    const [synced, gateway, written] = await timeRounds(rounds, [
      (round) =>
        forEachConcurrently(smallCount, CONCURRENCY, (i) =>
          put(`http://127.0.0.1:${syncing.port}/${round}/${i}`, undefined, 200),
        ),
      (round) =>
        forEachConcurrently(smallCount, CONCURRENCY, async (i) => {
          const t0 = performance.now();
          await put(`${stack.url}/v1/projects/bench/runs/gw-${round}/artifacts/s/${i}`, `Bearer ${token}`, 202);
          latencies.push(performance.now() - t0);
        }),
      // What the gateway itself does with a body: staged files are not fsynced (docs/contract.md,
      // section 4), so this is the baseline of equal durability; the fsyncing one is the issue's.
      (round) =>
        forEachConcurrently(smallCount, CONCURRENCY, (i) =>
          put(`http://127.0.0.1:${writing.port}/${round}/${i}`, undefined, 200),
        ),
    ]);
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!;
    const rate = (ms: number) => `${((smallCount * 1000) / ms).toFixed(0)}/s`;
    report(
      `| ${smallCount} × 4 KiB PUTs, ${CONCURRENCY} clients, median of ${rounds} paired rounds | gateway ${rate(median(gateway!))} (p50 ${pct(0.5).toFixed(1)} ms, p99 ${pct(0.99).toFixed(1)} ms) | bare Node http server writing and fsyncing each body ${rate(median(synced!))} | throughput ratio ${spread(synced!, gateway!)} (target ≥ 0.8) |`,
    );
    report(
      `| ${smallCount} × 4 KiB PUTs, ${CONCURRENCY} clients, median of ${rounds} paired rounds | gateway ${rate(median(gateway!))} | bare Node http server writing each body, no fsync (as the gateway stages) ${rate(median(written!))} | throughput ratio ${spread(written!, gateway!)} |`,
    );
    target(ratioTarget("Gateway 4 KiB PUTs: gateway / bare server with fsync", synced!, gateway!, 0.8));

    // 3. Memory with many clients waiting for their artifacts.
    await runGatewayWaitersMemory(stack, token, { report, target });
  } finally {
    bare.stop();
    hashing.stop();
    syncing.stop();
    writing.stop();
    await stack.dispose();
  }
}
