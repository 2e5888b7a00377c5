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

/** Peak resident set (VmHWM) of a live process, in MB. */
export function peakRssMb(pid: number): number {
  const kb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  return kb / 1024;
}
