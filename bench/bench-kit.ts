/** What every benchmark section shares: sizes, the report sink, timing and memory readings. */
import { readFileSync } from "node:fs";

export interface BenchContext {
  largeBytes: number;
  smallCount: number;
  /** Adds one table row: | what | artifact-bus | baseline | ratio |. */
  report(row: string): void;
}

export const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const out = await fn();
  return [performance.now() - t0, out];
}

/** Rounds per comparison: the machine is shared, so each side keeps its best time. */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/**
 * Times `direct` and `bus` alternately for ROUNDS rounds and keeps each side's best, so a
 * neighbour's burst of load penalises neither side alone. `round` tells the bodies apart.
 */
export async function compareBest(
  direct: (round: number) => Promise<unknown>,
  bus: (round: number) => Promise<unknown>,
  rounds = ROUNDS,
): Promise<{ direct: number; bus: number }> {
  let bestDirect = Number.POSITIVE_INFINITY;
  let bestBus = Number.POSITIVE_INFINITY;
  for (let round = 0; round < rounds; round++) {
    bestDirect = Math.min(bestDirect, (await time(() => direct(round)))[0]);
    bestBus = Math.min(bestBus, (await time(() => bus(round)))[0]);
  }
  return { direct: bestDirect, bus: bestBus };
}

/** Runs `task(0..count-1)` with `concurrency` of them in flight at once. */
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

/** Peak resident set (VmHWM) of a live process, in MB. */
export function peakRssMb(pid: number): number {
  const kb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  return kb / 1024;
}
