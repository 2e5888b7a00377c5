/**
 * A real copy-on-write filesystem for tests and benchmarks: an XFS image (reflink on) mounted
 * through a loop device. Needs root and mkfs.xfs (Debian package xfsprogs, which
 * scripts/require-system-packages.sh installs).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface XfsMount {
  /** The mounted filesystem's root. */
  dir: string;
  /** Unmounts it and deletes the image. */
  dispose(): void;
}

/** Creates and mounts an XFS filesystem of `bytes` (at least 300 MiB, XFS's minimum). */
export function mountXfs(bytes: number): XfsMount {
  const root = mkdtempSync(join(tmpdir(), "artifact-bus-xfs-"));
  const image = join(root, "image");
  const dir = join(root, "mnt");
  try {
    execFileSync("truncate", ["-s", String(Math.max(bytes, 300 << 20)), image]);
    execFileSync("mkfs.xfs", ["-q", "-m", "reflink=1", image]);
    execFileSync("mkdir", [dir]);
    execFileSync("mount", ["-o", "loop", image, dir], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    const why = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
    throw new Error(`cannot mount an XFS image (needs root, loop devices and mkfs.xfs from xfsprogs): ${why}`);
  }
  return {
    dir,
    dispose() {
      execFileSync("umount", [dir]);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
