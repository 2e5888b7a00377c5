/**
 * The Python client's `log_file` of 1 GiB in link mode (target ≤ 5 ms), over NATS and over the
 * gateway, against `os.link` of the same file in the same run (the floor: what holding the bytes
 * costs at least). Debian's python3 runs bench/python_log_file.py.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { GatewayStack } from "../test/harness/gateway-stack.ts";
import { type BenchContext, median } from "./bench-kit.ts";

const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const CLIENT = resolve(import.meta.dirname, "../clients/python");
const SCRIPT = resolve(import.meta.dirname, "python_log_file.py");

export async function runPythonBench({ largeBytes, report }: BenchContext): Promise<void> {
  const gw = await GatewayStack.start();
  try {
    const token = gw.token(["*"], ["publish"]);
    await gw.reload();
    const { stdout } = await promisify(execFile)(PYTHON, [SCRIPT, "nats", "http"], {
      env: {
        ...process.env,
        PYTHONPATH: CLIENT,
        SIZE: String(largeBytes),
        WORK_DIR: gw.bus.dir,
        ARTIFACT_BUS_NATS_URL: gw.bus.nats.url,
        ARTIFACT_BUS_STAGING_DIR: gw.bus.config.staging.dir,
        ARTIFACT_BUS_URL: gw.url,
        ARTIFACT_BUS_TOKEN: token,
        ARTIFACT_BUS_SPOOL_DIR: `${gw.bus.dir}/spool`,
      },
      timeout: 3_600_000,
      maxBuffer: 1 << 20,
    });
    const times = JSON.parse(stdout) as Record<string, number[]>;
    const floor = median(times["os.link"]!);
    const gib = (largeBytes / 1024 ** 3).toFixed(2);
    for (const t of ["nats", "http"]) {
      const m = median(times[t]!);
      report(
        `| Python log_file ${gib} GiB, link mode, over ${t === "nats" ? "NATS" : "the gateway"} (median of ${times[t]!.length}; max ${Math.max(...times[t]!).toFixed(2)} ms) | ${m.toFixed(2)} ms | os.link ${floor.toFixed(3)} ms | (target ≤ 5 ms) |`,
      );
    }
  } finally {
    await gw.dispose();
  }
}
