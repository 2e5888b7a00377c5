/**
 * Gateway benchmarks: a large PUT with curl through the gateway into fs staging versus `curl -T`
 * of the same file to a bare Node `http` server writing to the same disk; 4 KiB PUTs from 16
 * concurrent clients versus in-process `logFile` calls at the same concurrency. No uploader runs:
 * both sides only stage and publish, so the rows measure the gateway itself.
 */
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeLargeFile, writeRandomFile } from "@artifact-bus/testkit";
import { GatewayStack } from "../test/harness/gateway-stack.ts";
import { type BenchContext, forEachConcurrently, median, ROUNDS, secs, spread, time, timeRounds } from "./bench-kit.ts";

const CONCURRENCY = 16;

/** A bare Node http server in its own process that writes each PUT body to `dir`; resolves with its port. */
async function bareServer(dir: string) {
  const code = `
    const { createServer } = require("node:http");
    const { createWriteStream } = require("node:fs");
    let n = 0;
    const srv = createServer((req, res) => {
      req.pipe(createWriteStream(${JSON.stringify(dir)} + "/put-" + n++)).on("finish", () => res.end("ok"));
    });
    srv.listen(0, "127.0.0.1", () => console.log(srv.address().port));`;
  const proc = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = (await once(proc.stdout, "data")) as [Buffer];
  return { port: Number(line.toString().trim()), stop: () => proc.kill() };
}

function curlPut(file: string, url: string, token?: string): void {
  const auth = token ? ["-H", `Authorization: Bearer ${token}`] : [];
  execFileSync("curl", ["-sS", "--fail", "-o", "/dev/null", "-T", file, ...auth, url]);
}

export async function runGatewayBench({ largeBytes, smallCount, report }: BenchContext): Promise<void> {
  const stack = await GatewayStack.start({ uploader: false });
  const bare = await bareServer(join(stack.bus.dir, "staging"));
  try {
    const token = stack.token(["bench"], ["publish"]);
    await stack.reload();
    const big = join(stack.bus.dir, "big.bin");
    await writeLargeFile(big, largeBytes);

    // 1. Large PUT: curl through the gateway vs curl to a bare server, same file, same disk.
    // Each side starts with the other's file gone and flushed: otherwise whichever runs second
    // is throttled by the first one's dirty pages being written back.
    const staging = join(stack.bus.dir, "staging");
    const fresh = () => {
      rmSync(staging, { recursive: true, force: true });
      mkdirSync(staging, { recursive: true });
      execFileSync("sync");
    };
    const bareTimes: number[] = [];
    const gatewayTimes: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      fresh();
      bareTimes.push((await time(async () => curlPut(big, `http://127.0.0.1:${bare.port}/`)))[0]);
      fresh();
      const url = `${stack.url}/v1/projects/bench/runs/large/artifacts/big-${round}.bin`;
      gatewayTimes.push((await time(async () => curlPut(big, url, token)))[0]);
    }
    report(
      `| ${(largeBytes / 1024 ** 3).toFixed(2)} GiB PUT with curl, median of ${ROUNDS} paired rounds | gateway to fs staging (sha256 on the way, published) ${secs(median(gatewayTimes!))} | curl -T to a bare Node http server writing the file ${secs(median(bareTimes!))} | throughput ratio ${spread(bareTimes!, gatewayTimes!)} (target ≥ 0.9) |`,
    );
    fresh();

    // 2. Small PUTs, 16 clients, vs logFile from 16 concurrent calls in this process.
    const small = join(stack.bus.dir, "small.bin");
    writeRandomFile(small, 4096);
    const body = readFileSync(small);
    const trainer = await stack.bus.trainer();
    const latencies: number[] = [];
    const rounds = ROUNDS * 2;
    const [inProcess, gateway] = await timeRounds(rounds, [
      // To the PubAck, as the gateway answers: logFile itself returns before the publish.
      (round) =>
        forEachConcurrently(
          smallCount,
          CONCURRENCY,
          async (i) =>
            (await trainer.publisher.logFile({ project: "bench", run: `lf-${round}`, name: `s/${i}`, path: small }))
              .durable,
        ),
      (round) =>
        forEachConcurrently(smallCount, CONCURRENCY, async (i) => {
          const t0 = performance.now();
          const r = await stack.fetch(`/v1/projects/bench/runs/gw-${round}/artifacts/s/${i}`, token, {
            method: "PUT",
            body,
          });
          await r.arrayBuffer();
          if (r.status !== 202) throw new Error(`PUT answered ${r.status}`);
          latencies.push(performance.now() - t0);
        }),
    ]);
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!;
    const rate = (ms: number) => `${((smallCount * 1000) / ms).toFixed(0)}/s`;
    report(
      `| ${smallCount} × 4 KiB PUTs, ${CONCURRENCY} clients, median of ${rounds} paired rounds | gateway ${rate(median(gateway!))} (p50 ${pct(0.5).toFixed(1)} ms, p99 ${pct(0.99).toFixed(1)} ms) | in-process logFile to durable ×${CONCURRENCY} ${rate(median(inProcess!))} | throughput ratio ${spread(inProcess!, gateway!)} (target ≥ 0.5) |`,
    );
    await trainer.close();
  } finally {
    bare.stop();
    await stack.dispose();
  }
}
