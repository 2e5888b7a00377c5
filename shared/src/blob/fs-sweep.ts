/**
 * Removing what the fs store's staging dir no longer needs: blobs staged long enough ago that
 * the ledger does not keep, temp files of crashed stagings, and temp files of streams cut short.
 * Files are aged by what says whether anyone still owns them: a blob by its staging time, a
 * linked or moved temp file by its ctime (it keeps the trainer's old mtime), and a streamed temp
 * file by its mtime, which moves as long as its client sends.
 */
import type { Dirent } from "node:fs";
import { lstat, readdir, rmdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { codeOf, TEMP_PREFIX, unlinkIfPresent } from "./fs-run-dir.ts";
import { STREAM_TEMP_SUFFIX } from "./fs-stream.ts";
import type { SweepGuard } from "./store.ts";

/**
 * Deletes blobs under `dir` whose mtime (the staging time) is older than `olderThanMs` unless
 * `keep` holds them, and temp files of crashed stagings (aged by ctime, see above), then prunes
 * run and project dirs left empty. Returns the number of blobs deleted.
 */
export async function sweepBlobs(dir: string, olderThanMs: number, keep?: SweepGuard): Promise<number> {
  const cutoff = Date.now() - olderThanMs;
  let removed = 0;
  for (const project of await subdirs(dir)) {
    for (const run of await subdirs(join(dir, project))) {
      const runDir = join(dir, project, run);
      for (const entry of await list(runDir)) {
        if (!entry.isFile()) continue;
        const path = join(runDir, entry.name);
        const temp = entry.name.startsWith(TEMP_PREFIX);
        const st = await lstat(path).catch(() => undefined);
        if (!st || (temp ? Math.max(st.ctimeMs, st.mtimeMs) : st.mtimeMs) >= cutoff) continue;
        if (!temp && keep && (await keep({ store: "fs", ref: `${project}/${run}/${entry.name}` }))) continue;
        if ((await unlinkIfPresent(path)) && !temp) removed++;
      }
      await prune(dir, project, run);
    }
  }
  return removed;
}

/**
 * Removes streamed temp files under `dir` (`<project>/<run>/<temp>`) not written to for
 * `idleMs`: what a client that vanished mid-body, or a process killed while receiving one, left
 * behind. Returns how many. Best effort: a file that vanishes meanwhile is not an error.
 */
export async function sweepStreamTemps(dir: string, idleMs: number): Promise<number> {
  const cutoff = Date.now() - idleMs;
  let removed = 0;
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isFile() || !e.name.startsWith(TEMP_PREFIX) || !e.name.endsWith(STREAM_TEMP_SUFFIX)) continue;
    const path = join(e.parentPath, e.name);
    const st = await stat(path).catch(() => undefined);
    if (!st || st.mtimeMs >= cutoff) continue;
    if (
      await unlink(path).then(
        () => true,
        () => false,
      )
    )
      removed++;
  }
  return removed;
}

/** Removes the run dir and then the project dir if they are empty; best effort. */
async function prune(dir: string, project: string, run: string): Promise<void> {
  for (const emptied of [join(dir, project, run), join(dir, project)]) {
    try {
      await rmdir(emptied);
    } catch {
      return; // not empty (the usual case), gone already, or not ours to remove
    }
  }
}

async function list(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (codeOf(err) === "ENOENT" || codeOf(err) === "ENOTDIR") return [];
    throw err;
  }
}

async function subdirs(dir: string): Promise<string[]> {
  return (await list(dir)).filter((e) => e.isDirectory()).map((e) => e.name);
}
