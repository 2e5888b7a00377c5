/** Readings of a live process from /proc, for tests and benchmarks. */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";

/** Peak resident set (VmHWM) of a live process, in MB. */
export function peakRssMb(pid: number): number {
  const kb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  return kb / 1024;
}

/**
 * Resets a live process's peak resident set to its current one (Linux `clear_refs` 5), so a
 * later {@link peakRssMb} measures one phase, e.g. an upload, without the start-up peak of
 * compiling modules.
 */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}

/** Current resident set (VmRSS) of a live process, in MB. */
export function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  return kb / 1024;
}

/** CPU seconds (user + system) a live process used so far. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * CPU seconds of a process and all its descendants: the live ones' own time plus what every
 * one of them collected from children it reaped (an sshd listener and its per-session
 * processes, ended or not). Read before and after a phase; the difference is the phase's cost.
 */
export function treeCpuSeconds(rootPid: number): number {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // ended meanwhile
    }
    const f = text.slice(text.lastIndexOf(") ") + 2).split(" ");
    // After the name: state ppid ... utime(14) stime(15) cutime(16) cstime(17), 1-based in proc(5).
    stats.set(Number(entry), {
      ppid: Number(f[1]),
      ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]),
    });
  }
  let total = 0;
  const queue = [rootPid];
  while (queue.length) {
    const pid = queue.pop()!;
    total += stats.get(pid)?.ticks ?? 0;
    for (const [child, s] of stats) if (s.ppid === pid) queue.push(child);
  }
  return total / 100;
}
