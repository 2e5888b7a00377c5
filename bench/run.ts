/**
 * `npm run bench`: artifact-bus against a direct baseline measured in the same run, on the same
 * servers, so ratios hold on a noisy shared machine. Writes bench/RESULTS.md.
 * BENCH_LARGE_BYTES and BENCH_SMALL_COUNT shrink the sizes for a quick look.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { resolve } from "node:path";
import { warmCompileCache } from "@artifact-bus/testkit";
import type { BenchContext, TargetRow } from "./bench-kit.ts";
import { runGatewayBench } from "./gateway-bench.ts";
import { runLoadBench } from "./load-bench.ts";
import { runPythonBench } from "./python-bench.ts";
import { runResumeBench } from "./resume-bench.ts";
import { runS3Bench } from "./s3-bench.ts";
import { runSetsBench } from "./sets-bench.ts";
import { runSftpBench } from "./sftp-bench.ts";
import { runStagingBench } from "./staging-bench.ts";
import { runWandbBench } from "./wandb-bench.ts";

const sections: [string, (ctx: BenchContext) => Promise<void>][] = [
  ["S3 (s3rver in its own process)", runS3Bench],
  ["Resumed uploads (S3, an uploader SIGKILLed at 60 %)", runResumeBench],
  ["Checkpoint sets (S3, 8 trainers × 8 shards logged at once, 2 uploaders)", runSetsBench],
  ["Trainer-side staging (logFile)", runStagingBench],
  ["SFTP (OpenSSH sshd)", runSftpBench],
  ["Weights & Biases (the API double in its own process)", runWandbBench],
  ["HTTP gateway (its own process)", runGatewayBench],
  ["Python client (Debian python3)", runPythonBench],
  ["Many trainers (dir destination, one nats-server)", runLoadBench],
];
// BENCH_ONLY=many (a comma-separated list of words of the titles, e.g. s3,sets,sftp,weights,gateway,many)
// runs just those sections.
const only = process.env.BENCH_ONLY?.toLowerCase().split(",");
const chosen = only ? sections.filter(([title]) => only.some((w) => title.toLowerCase().includes(w))) : sections;

const largeBytes = Number(process.env.BENCH_LARGE_BYTES ?? 1024 ** 3);
const smallCount = Number(process.env.BENCH_SMALL_COUNT ?? 2000);
const results = resolve(import.meta.dirname, "RESULTS.md");
const SUMMARY = "Summary: where the bus stands against its targets";
// Sections are `## title` blocks. A run replaces the blocks of the sections it ran and keeps the
// others, including written notes (a profile, where the ceiling is) under titles of their own.
const blocks = new Map<string, string>();
if (existsSync(results)) {
  for (const block of readFileSync(results, "utf8")
    .split(/\n(?=## )/)
    .slice(1)) {
    blocks.set(block.slice(3, block.indexOf("\n")), block.trimEnd());
  }
}
// The summary's rows by section: this run's, and an earlier run's for the sections it skipped.
const summary = new Map<string, TargetRow[]>();
for (const line of (blocks.get(SUMMARY) ?? "").split("\n")) {
  const cells = line.split(" | ").map((c) => c.replace(/^\| ?| ?\|$/g, ""));
  if (cells.length !== 5 || !sections.some(([title]) => title === cells[0])) continue;
  const [section, row, target, measured, met] = cells as [string, string, string, string, string];
  summary.set(section, [...(summary.get(section) ?? []), { row, target, measured, met: met.startsWith("met") }]);
}
for (const [title] of chosen) summary.set(title, []);
// The services it starts find Node's compile cache full, as in the image: their memory and
// start-up are measured without the TypeScript stripper (shared/src/service/compile-cache.ts).
await warmCompileCache();
for (const [title, run] of chosen) {
  console.log(`\n## ${title}`);
  let text = `## ${title}\n\n_${new Date().toISOString().slice(0, 10)}, commit ${commit()}_\n\n| what | artifact-bus | baseline | ratio |\n|---|---|---|---|\n`;
  await run({
    largeBytes,
    smallCount,
    report: (row) => {
      console.log(row);
      text += `${row}\n`;
    },
    target: (t) => summary.get(title)!.push(t),
  });
  blocks.set(title, text.trimEnd());
}

/** The commit measured, marked when the tree had uncommitted changes. */
function commit(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"]).toString().trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"]).toString().trim();
    return dirty ? `${head} with uncommitted changes` : head;
  } catch {
    return "unknown commit";
  }
}

// One table a reader sees in one screen: section, row, target, measured, met or not.
const summaryRows = sections.flatMap(([title]) =>
  (summary.get(title) ?? []).map(
    (t) => `| ${title} | ${t.row} | ${t.target} | ${t.measured} | ${t.met ? "met" : "**not met**"} |`,
  ),
);
const summaryText = `## ${SUMMARY}\n\nEach section's rows from its latest run (dates and commits in the sections below).\n\n| section | row | target | measured | met |\n|---|---|---|---|---|\n${summaryRows.join("\n")}`;
blocks.delete(SUMMARY);
console.log(`\n${summaryText}`);

const machine = `${cpus().length} × ${cpus()[0]?.model ?? "unknown cpu"}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, Node ${process.version}, ${execFileSync("nats-server", ["--version"]).toString().trim()}`;
writeFileSync(
  results,
  `# Benchmark results\n\n\`npm run bench\` on ${machine}, each section dated and marked with the artifact-bus commit it measured.\nEach ratio compares artifact-bus with a direct baseline measured in the same run against the same server (above 1 means faster than the baseline for throughput rows).\n\n${[summaryText, ...blocks.values()].join("\n\n")}\n`,
);
console.log(`\nwrote ${results}`);
