/**
 * `npm run bench`: artifact-bus against a direct baseline measured in the same run, on the same
 * servers, so ratios hold on a noisy shared machine. Writes bench/RESULTS.md.
 * BENCH_LARGE_BYTES and BENCH_SMALL_COUNT shrink the sizes for a quick look.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { resolve } from "node:path";
import type { BenchContext } from "./bench-kit.ts";
import { runGatewayBench } from "./gateway-bench.ts";
import { runS3Bench } from "./s3-bench.ts";
import { runSftpBench } from "./sftp-bench.ts";
import { runWandbBench } from "./wandb-bench.ts";

const sections: [string, (ctx: BenchContext) => Promise<void>][] = [
  ["S3 (s3rver in its own process)", runS3Bench],
  ["SFTP (OpenSSH sshd)", runSftpBench],
  ["Weights & Biases (the API double in its own process)", runWandbBench],
  ["HTTP gateway (its own process)", runGatewayBench],
];
// BENCH_ONLY=gateway (a word of a section's title) runs just the sections it names.
const only = process.env.BENCH_ONLY?.toLowerCase();

const largeBytes = Number(process.env.BENCH_LARGE_BYTES ?? 1024 ** 3);
const smallCount = Number(process.env.BENCH_SMALL_COUNT ?? 2000);
let text = "";
for (const [title, run] of sections.filter(([t]) => !only || t.toLowerCase().includes(only))) {
  console.log(`\n## ${title}`);
  text += `\n## ${title}\n\n| what | artifact-bus | baseline | ratio |\n|---|---|---|---|\n`;
  await run({
    largeBytes,
    smallCount,
    report: (row) => {
      console.log(row);
      text += `${row}\n`;
    },
  });
}

const machine = `${cpus().length} × ${cpus()[0]?.model ?? "unknown cpu"}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, Node ${process.version}, ${execFileSync("nats-server", ["--version"]).toString().trim()}`;
const results = resolve(import.meta.dirname, "RESULTS.md");
// A partial run (BENCH_ONLY) prints its rows and leaves RESULTS.md to full runs.
if (!only)
  writeFileSync(
    results,
    `# Benchmark results\n\nLatest \`npm run bench\` (${new Date().toISOString().slice(0, 10)}) on ${machine}.\nEach ratio compares artifact-bus with a direct baseline measured in the same run against the same server (above 1 means faster than the baseline for throughput rows).\n${text}`,
  );
console.log(only ? "\nBENCH_ONLY: RESULTS.md left as it was" : `\nwrote ${results}`);
