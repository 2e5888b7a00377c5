/**
 * The dir destination: artifacts written into a local or mounted directory (NFS, a Lustre
 * archive), as Composer users copy checkpoints to a shared archive. Each file is written under a
 * temp name beside its target (`.<basename>.<eventId>.partial`), optionally fsynced, and renamed
 * over the final name: a reader sees the old file or the new one, never a partial one. Also the
 * destination that costs (almost) nothing, for load tests.
 */
import { constants, renameSync, writeFileSync } from "node:fs";
import { access, mkdir, open, readdir, rename, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, sep } from "node:path";
import {
  type Artifact,
  type ArtifactEventV1,
  type BlobReader,
  type ByteRange,
  createLogger,
  type Destination,
  DestinationError,
  filePathProblem,
  type Logger,
  PermanentError,
  type RemoteContent,
  type RemoteReadOptions,
  renderRemotePath,
  SMALL_FILE_BYTES,
  TransientError,
  tempPath,
  type UploadContext,
  type UploadReceipt,
} from "@artifact-bus/shared";
import { type DirOptions, parseDirOptions } from "./dir-options.ts";
import { openLocalFile, pathOfLocation } from "./dir-read.ts";

const BUFFER_BYTES = 1 << 20;
/** Blobs up to this size are read whole and written in one call. */
const WHOLE_BYTES = 1 << 20;
/** Directories remembered as made (and when last swept); forgotten all at once past this. */
const MAX_KNOWN_DIRS = 10_000;

export interface DirDestinationInit {
  name: string;
  options: unknown;
  log?: Logger;
  /** fsyncs a directory (default {@link syncDirectory}); a seam that lets tests see which ones. */
  syncDir?: (dir: string) => Promise<void>;
}

export class DirDestination implements Destination {
  readonly name: string;
  readonly options: DirOptions;
  private readonly log: Logger;
  private readonly syncDir: (dir: string) => Promise<void>;
  /** Directories this process made or found, and when it last swept their stale temp files. */
  private readonly dirs = new Map<string, number>();

  /** Throws ConfigError naming the first bad option. */
  constructor(init: DirDestinationInit) {
    this.name = init.name;
    this.options = parseDirOptions(init.name, init.options);
    this.log = init.log ?? createLogger(init.name);
    this.syncDir = init.syncDir ?? syncDirectory;
  }

  /**
   * The file an event goes to; PermanentError if its name makes no valid path there: one past
   * NAME_MAX or PATH_MAX (path-limits.ts) is refused here, before anything is written, naming the lengths.
   */
  pathOf(event: Pick<ArtifactEventV1, "id" | "project" | "run" | "name" | "level" | "producer">): string {
    const o = this.options;
    let relative: string;
    try {
      relative = renderRemotePath(o.pathTemplate, "", event, {
        allowDotSegments: o.allowDotSegments,
      });
    } catch (err) {
      throw new PermanentError(
        `${this.name}: no valid path for ${JSON.stringify(event.name)}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const final = join(o.root, relative);
    const rendered = { name: event.name, template: o.pathTemplate, base: { label: "root" as const, value: o.root } };
    const problem = filePathProblem(final, relative, rendered, tempPath(final, event.id));
    if (problem) throw new PermanentError(`${this.name}: ${problem}`);
    return final;
  }

  orderKey(event: ArtifactEventV1): string {
    return this.pathOf(event);
  }

  async upload(artifact: Artifact, ctx: UploadContext): Promise<UploadReceipt> {
    const { event } = artifact;
    const final = this.pathOf(event);
    const dir = dirname(final);
    const temp = tempPath(final, event.id);
    let written = false;
    try {
      await this.prepare(dir, ctx);
      let size: number;
      // Without fsync, a small file is written and renamed with synchronous calls: each
      // asynchronous one is a thread-pool round trip, which costs more CPU than the write (the
      // uploader's CPU per 4 KiB artifact fell by a quarter in the many-trainers bench).
      const quick = event.blob.size <= SMALL_FILE_BYTES && !this.options.fsync;
      if (event.blob.size <= WHOLE_BYTES) {
        // Small: read whole (verified) and written in one call; fewer calls than a reader loop.
        const bytes = await artifact.read(ctx.signal);
        written = true;
        const options = { mode: 0o644, flush: this.options.fsync };
        await this.inDir(dir, async () =>
          quick ? writeFileSync(temp, bytes, options) : writeFile(temp, bytes, options),
        );
        size = bytes.length;
      } else {
        written = true;
        size = await this.inDir(dir, () => this.copy(artifact, temp, ctx));
      }
      if (size !== event.blob.size) throw new TransientError(`${temp} has ${size} bytes, expected ${event.blob.size}`);
      if (ctx.signal.aborted) throw ctx.signal.reason;
      await ctx.beforeVisible(); // the rename makes it visible: only while the lease holds
      if (quick) renameSync(temp, final);
      else await rename(temp, final);
      if (this.options.fsync) await this.syncDir(dir);
      return { location: `file://${encodeURI(final)}`, size, details: { path: final } };
    } catch (err) {
      if (written) await unlink(temp).catch(() => {});
      throw this.classify(err, ctx.signal, final);
    }
  }

  /** Streams the blob into `temp` through a verified reader; returns the bytes written. */
  private async copy(artifact: Artifact, temp: string, ctx: UploadContext): Promise<number> {
    const reader: BlobReader = await artifact.openReader(ctx.signal);
    try {
      const file = await open(temp, "w", 0o644);
      let done = 0;
      try {
        const buf = Buffer.allocUnsafe(Math.min(BUFFER_BYTES, Math.max(1, artifact.event.blob.size)));
        for (;;) {
          if (ctx.signal.aborted) throw ctx.signal.reason;
          const n = await reader.fill(buf);
          if (n > 0) done += (await file.write(buf, 0, n)).bytesWritten;
          ctx.heartbeat(done);
          if (n < buf.length) break;
        }
        if (this.options.fsync) await file.sync();
      } finally {
        await file.close();
      }
      return done;
    } finally {
      await reader.close().catch(() => {});
    }
  }

  /**
   * Makes `dir` exist the first time this process writes there, and sweeps its stale temp files
   * then and at most once per staleTempMaxAgeMs after: per upload, the listing of a directory
   * of thousands of artifacts cost more than the write.
   */
  private async prepare(dir: string, ctx: UploadContext): Promise<void> {
    const swept = this.dirs.get(dir);
    const now = Date.now();
    if (swept !== undefined && now - swept < Math.max(1000, this.options.staleTempMaxAgeMs)) return;
    if (swept === undefined) await this.mkdirs(dir);
    if (this.dirs.size >= MAX_KNOWN_DIRS) this.dirs.clear();
    this.dirs.set(dir, now);
    await removeStaleTemps(dir, this.options.staleTempMaxAgeMs).catch((err: Error) =>
      ctx.log.warn({ error: err.message }, "could not sweep stale temp files"),
    );
  }

  /**
   * Runs `write` (which creates a file in `dir`); if `dir` is gone (removed below the root, or
   * the root unmounted since this process made it), makes it again, or says the root is missing,
   * and runs `write` once more.
   */
  private async inDir<T>(dir: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (err) {
      if ((err as NodeJS.ErrnoException)?.code !== "ENOENT") throw err;
      this.dirs.delete(dir);
      await this.mkdirs(dir);
      this.dirs.set(dir, Date.now());
      return write();
    }
  }

  /** The bytes of an upload of this destination, whole or a range, from the file its location names. */
  async openRead(
    location: string,
    range: ByteRange | undefined,
    _signal: AbortSignal,
    options?: RemoteReadOptions,
  ): Promise<RemoteContent> {
    return openLocalFile(pathOfLocation(location, this.options.root), range, options);
  }

  /** Unlinks the files the locations name, in order; one already gone counts as removed. */
  async remove(locations: readonly string[], signal: AbortSignal): Promise<void> {
    for (const location of locations) {
      const path = pathOfLocation(location, this.options.root);
      try {
        await unlink(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw this.classify(err, signal, path);
      }
    }
  }

  /** The root exists, is a directory, and this process may write it. */
  async probe(): Promise<void> {
    try {
      if (!(await stat(this.options.root)).isDirectory()) throw new Error("not a directory");
      await access(this.options.root, constants.W_OK);
    } catch (err) {
      throw new DestinationError(`${this.name}: root ${this.options.root}: ${(err as Error).message}`, { cause: err });
    }
  }

  async close(): Promise<void> {}

  /**
   * Creates `dir` and its parents below root. The root itself is never created: it is usually a
   * mount point, and a missing one pauses the destination rather than filling the disk below it.
   * With fsync, the entry of each directory on the way down is synced in its parent (`dir`'s own
   * entries are synced after the rename): a host crash must not lose a new run's directory with
   * the file in it. Not only those this call made: a killed uploader may have made some and died
   * before syncing them. Once per directory per process, so the cost is a few fsyncs per run.
   */
  private async mkdirs(dir: string): Promise<void> {
    if (!(await stat(this.options.root).catch(() => undefined))?.isDirectory()) {
      throw new DestinationError(`${this.name}: root ${this.options.root} is not there (not mounted?)`);
    }
    await mkdir(dir, { recursive: true });
    if (this.options.fsync) for (const parent of parentsBelow(this.options.root, dir)) await this.syncDir(parent);
  }

  private classify(err: unknown, signal: AbortSignal, target: string): Error {
    if (signal.aborted) {
      const reason = signal.reason;
      return reason instanceof PermanentError || reason instanceof TransientError
        ? reason
        : new TransientError(`write of ${target}: aborted`, { cause: reason });
    }
    if (err instanceof TransientError || err instanceof PermanentError || err instanceof DestinationError) return err;
    const code = (err as NodeJS.ErrnoException)?.code;
    const what = `write of ${target}: ${(err as Error)?.message ?? err}`;
    // A read-only or vanished mount is the destination's trouble; a full disk may be freed.
    if (code === "EROFS") return new DestinationError(what, { cause: err });
    if (code === "EACCES" || code === "EPERM" || code === "ENOTDIR" || code === "EEXIST" || code === "ENAMETOOLONG") {
      return new PermanentError(what, { cause: err });
    }
    return new TransientError(what, { cause: err });
  }
}

/** A temp file's name: `.<basename or its hash>.<event id>.partial`. */
const TEMP_NAME = /^\..+\.[A-Za-z0-9_-]{8,64}\.partial$/;

/** Removes temp files in `dir` older than `maxAgeMs`, left by a killed uploader. */
async function removeStaleTemps(dir: string, maxAgeMs: number): Promise<void> {
  const cutoff = Date.now() - maxAgeMs;
  for (const name of await readdir(dir)) {
    if (!TEMP_NAME.test(name)) continue;
    const path = join(dir, name);
    const mtime = (await stat(path).catch(() => undefined))?.mtimeMs;
    if (mtime !== undefined && mtime < cutoff) await unlink(path).catch(() => {});
  }
}

/**
 * The directories holding the entries of `dir` and of each directory between it and `root`:
 * `root`, then each one down to `dir`'s parent. Empty when `dir` is `root` or not below it.
 */
function parentsBelow(root: string, dir: string): string[] {
  const rel = relative(root, dir);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) return [];
  const segments = rel.split(sep);
  return segments.map((_, i) => join(root, ...segments.slice(0, i)));
}

/** fsync of a directory: its new entries survive a crash of the host. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
