/**
 * rclone (Debian's `rclone`, which `npm run bench` installs when missing) as a peer, run as a user
 * would: `rclone copyto <file> <remote>:<path>` with its defaults, the remote described by
 * environment variables (RCLONE_CONFIG_<NAME>_<OPTION>) and an empty config file of its own, so
 * nothing of a user's ~/.config/rclone takes part.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runMeasured } from "./bench-kit.ts";

/** The remote's name in `<remote>:<path>`. */
export const RCLONE_REMOTE = "bench";

export interface RclonePeer {
  /** e.g. `rclone v1.60.1-DEV`. */
  version: string;
  /** Copies `local` to `path` on the remote; resolves with the CPU seconds rclone used. */
  copyTo(local: string, path: string): Promise<number>;
  /** `rclone copy <dir> <remote>:<path> ...args`: a directory's files; resolves with rclone's CPU seconds. */
  copyDir(dir: string, path: string, args?: string[]): Promise<number>;
}

/** A peer for the remote `options` describe (type, endpoint, keys...); `dir` holds its empty config file. */
export function rclonePeer(dir: string, options: Record<string, string>): RclonePeer {
  const config = join(dir, "rclone.conf");
  writeFileSync(config, "");
  const env: NodeJS.ProcessEnv = { ...process.env, RCLONE_CONFIG: config };
  // rclone's S3 SDK fails to start with AWS_CA_BUNDLE set ("unsupported transport"), where the
  // environment sets one for HTTPS; the servers here speak plain HTTP and need no CA.
  delete env.AWS_CA_BUNDLE;
  for (const [key, value] of Object.entries(options)) {
    env[`RCLONE_CONFIG_${RCLONE_REMOTE.toUpperCase()}_${key.toUpperCase()}`] = value;
  }
  const version = execFileSync("rclone", ["version"], { env }).toString().split("\n")[0]?.trim() ?? "rclone";
  return {
    version,
    copyTo: (local, path) => runMeasured("rclone", ["copyto", local, `${RCLONE_REMOTE}:${path}`], { env }),
    copyDir: (dir, path, args = []) =>
      runMeasured("rclone", ["copy", dir, `${RCLONE_REMOTE}:${path}`, ...args], { env }),
  };
}
