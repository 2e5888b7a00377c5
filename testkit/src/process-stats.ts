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

/**
 * Bytes a live process read so far through read calls, from files and sockets alike (`rchar` of
 * /proc/<pid>/io): the difference of two readings bounds what it fetched meanwhile, e.g. from S3.
 */
export function bytesRead(pid: number): number {
  return Number(/rchar:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, "utf8"))?.[1] ?? Number.NaN);
}

/** CPU seconds (user + system) a live process used so far. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * CPU seconds of a live process and all its descendants so far: their own user + system time,
 * and the reaped children's. The difference of two readings is exact for children that ran
 * across both (live ones are read directly, ended ones through their parent's reaped time),
 * without sampling; e.g. an uploader and its `ssh` children.
 */
export function treeCpuSeconds(rootPid: number): number {
  const stats = processTicks();
  let ticks = 0;
  const queue = [rootPid];
  while (queue.length) {
    const pid = queue.pop()!;
    ticks += stats.get(pid)?.ticks ?? 0;
    for (const [child, st] of stats) if (st.ppid === pid) queue.push(child);
  }
  return ticks / 100;
}

/** user + system + reaped children's ticks of every process, with its parent. */
function processTicks(): Map<number, { ppid: number; ticks: number }> {
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
  return stats;
}

/**
 * Measures the CPU seconds of a process tree over a phase (an sshd listener and its per-session
 * processes). The tree is sampled every 50 ms and each process counted up to its last sample:
 * sshd's session processes are not reaped by the listener, so its reaped-children times miss
 * them. A process's last 50 ms before it ends can be missed.
 */
export function sampleTreeCpu(rootPid: number, intervalMs = 50): { stop(): number } {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const sample = (initial: boolean) => {
    const stats = processTicks();
    const queue = [rootPid];
    while (queue.length) {
      const pid = queue.pop()!;
      const ticks = stats.get(pid)?.ticks;
      if (ticks !== undefined) {
        if (!first.has(pid)) first.set(pid, initial ? ticks : 0);
        last.set(pid, ticks);
      }
      for (const [child, st] of stats) if (st.ppid === pid) queue.push(child);
    }
  };
  sample(true);
  const timer = setInterval(() => sample(false), intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample(false);
      let ticks = 0;
      for (const [pid, t] of last) ticks += t - (first.get(pid) ?? 0);
      return ticks / 100;
    },
  };
}
