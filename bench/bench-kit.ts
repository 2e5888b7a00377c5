/** What every benchmark section shares: sizes, the report sink, timing and memory readings. */
import { spawn } from "node:child_process";
import type { LogFileRequest, StagingMode } from "@artifact-bus/shared";
import { peakRssMb, resetPeakRss } from "@artifact-bus/testkit";

export interface BenchContext {
  largeBytes: number;
  smallCount: number;
  /** Adds one table row: | what | artifact-bus | baseline | ratio |. */
  report(row: string): void;
  /** Adds a row of the summary printed at the end of the run (a target of issue 24's list). */
  target(t: TargetRow): void;
}

/** One row of the end-of-run summary: where the bus stands against one target. */
export interface TargetRow {
  /** What is measured, e.g. "W&B 1 GiB, bus / direct client of the protocol". */
  row: string;
  /** The target as written, e.g. "≥ 0.95×". */
  target: string;
  /** The measured value as written, spread included. */
  measured: string;
  met: boolean;
}

/** A throughput target over paired rounds: met when the median ratio reaches `min`. */
export function ratioTarget(row: string, baseline: number[], bus: number[], min: number): TargetRow {
  const measured = ratioWithSpread(baseline, bus);
  return { row, target: `≥ ${min.toFixed(2)}`, measured, met: pairedRatio(baseline, bus) >= min };
}

/** An upper bound on a value (MB, ms, a ratio of CPU): met when `value` ≤ `max`. */
export function atMost(row: string, value: number, max: number, unit: string, digits = 2): TargetRow {
  return { row, target: `≤ ${max}${unit}`, measured: `${value.toFixed(digits)}${unit}`, met: value <= max };
}

/** A lower bound on a value (a rate): met when `value` ≥ `min`. */
export function atLeast(row: string, value: number, min: number, unit: string, digits = 0): TargetRow {
  return { row, target: `≥ ${min}${unit}`, measured: `${value.toFixed(digits)}${unit}`, met: value >= min };
}

export const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const out = await fn();
  return [performance.now() - t0, out];
}

/** Rounds per comparison. */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/**
 * Runs the bodies one after another, `rounds` times, and returns each body's time (ms) per
 * round. A neighbour's burst of load on this shared machine can triple a round's time (seen:
 * 5.4 s and 1.9 s for the same 2000 PUTs minutes apart), and a best-of per side rewards
 * whichever side caught a quiet moment. Bodies of one round run back to back and share theirs:
 * compare them pairwise with {@link pairedRatio}. `round` tells the bodies' names apart.
 */
export async function timeRounds(rounds: number, bodies: ((round: number) => Promise<unknown>)[]): Promise<number[][]> {
  const times = bodies.map(() => [] as number[]);
  for (let round = 0; round < rounds; round++) {
    for (const [i, body] of bodies.entries()) times[i]!.push((await time(() => body(round)))[0]);
  }
  return times;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Throughput of the bus relative to a baseline: the median over rounds of baseline time / bus time. */
export function pairedRatio(baseline: number[], bus: number[]): number {
  return median(baseline.map((b, i) => b / bus[i]!));
}

/** The paired ratio with the spread of the pairs beside it: `0.93 (0.88–0.97)`. */
export function spread(baseline: number[], bus: number[]): string {
  const ratios = baseline.map((b, i) => b / bus[i]!);
  return `${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
}

/** Runs `task(0..count-1)` with `concurrency` of them in flight at once. */
/** A duration in milliseconds as a reader wants it: 2 decimals under 10 ms, seconds from 1 s. */
export const ms = (x: number) =>
  x < 10 ? `${x.toFixed(2)} ms` : x < 1000 ? `${x.toFixed(0)} ms` : `${(x / 1000).toFixed(2)} s`;

export async function forEachConcurrently(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

export { peakRssMb } from "@artifact-bus/testkit";

/**
 * An uploader's memory in the phases the issue names: `idleMb` as read at start, then the peak
 * while four uploads of `path` are in flight at once (logged together, flushed), each phase a
 * row and a target of at most 200 MB. `label` names the uploader, e.g. "SFTP".
 */
export async function uploaderMemoryRows(
  o: {
    label: string;
    pid: number;
    idleMb: number;
    trainer: {
      publisher: { logFile(req: LogFileRequest): Promise<unknown>; flush(o: { timeoutMs: number }): Promise<void> };
    };
    path: string;
  },
  { report, target }: Pick<BenchContext, "report" | "target">,
): Promise<void> {
  resetPeakRss(o.pid);
  const run = `four-${Date.now()}`;
  await Promise.all(
    [0, 1, 2, 3].map((i) =>
      o.trainer.publisher.logFile({ project: "bench", run, name: `four-${i}.bin`, path: o.path, mode: "link" }),
    ),
  );
  await o.trainer.publisher.flush({ timeoutMs: 600_000 });
  const fourMb = peakRssMb(o.pid);
  report(`| ${o.label} uploader resident set, idle after start | ${o.idleMb.toFixed(0)} MB | | (target ≤ 200 MB) |`);
  report(
    `| ${o.label} uploader peak RSS, 4 large uploads in flight at once | ${fourMb.toFixed(0)} MB | | (target ≤ 200 MB) |`,
  );
  target(atMost(`${o.label} uploader RSS, idle`, o.idleMb, 200, " MB", 0));
  target(atMost(`${o.label} uploader peak RSS, four large uploads at once`, fourMb, 200, " MB", 0));
}

/**
 * One bus round of the large benchmarks: log `path` as a new name (hard-linked unless told), wait
 * until it landed. Returns how long logFile kept the trainer (ms): called as a trainer calls it,
 * after the previous artifact's flush and whatever the peers of the round wrote to disk.
 */
export async function logAndFlush(
  trainer: {
    publisher: { logFile(req: LogFileRequest): Promise<unknown>; flush(o: { timeoutMs: number }): Promise<void> };
  },
  path: string,
  round: number,
  mode: StagingMode = "link",
): Promise<number> {
  // logFile returns before hashing (link) or once copied (copy): flush waits for the event, then the upload.
  const name = mode === "link" ? `big-${round}.bin` : `big-${mode}-${round}.bin`;
  const t0 = performance.now();
  await trainer.publisher.logFile({ project: "bench", run: "large", name, path, mode });
  const returnedMs = performance.now() - t0;
  await trainer.publisher.flush({ timeoutMs: 600_000 });
  return returnedMs;
}

/** The pair ratios behind {@link pairedRatio}, as `median (min–max)`: the spread shows the noise. */
export function ratioWithSpread(baseline: number[], bus: number[]): string {
  const ratios = baseline.map((b, i) => b / bus[i]!);
  return `${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
}

/**
 * Runs a program to its end and returns the CPU seconds it and its children used, as bash's
 * `times` reports them (user + system). Its output is discarded; `input` goes to its stdin.
 */
export async function runMeasured(
  program: string,
  args: string[],
  o: { env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<number> {
  const script = '"$@" >/dev/null; status=$?; times >&2; exit $status';
  const child = spawn("bash", ["-c", script, "bash", program, ...args], {
    env: o.env ?? process.env,
    stdio: ["pipe", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  child.stdin!.end(o.input ?? "");
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  if (code !== 0) throw new Error(`${program} exited with ${code}: ${stderr.slice(-2000)}`);
  // The last line of `times`: the children's user and system time, e.g. "0m1.234s 0m0.567s".
  const m = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(stderr);
  if (!m) throw new Error(`no CPU times from bash for ${program}: ${stderr.slice(-500)}`);
  return Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]);
}

/** CPU seconds this process used during `fn`, and `fn`'s result. */
export async function ownCpu<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.cpuUsage();
  const out = await fn();
  const t = process.cpuUsage(t0);
  return [(t.user + t.system) / 1e6, out];
}
