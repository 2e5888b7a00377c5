/**
 * The dir destination: artifacts written into a local or mounted directory (NFS, a Lustre
 * archive), as Composer users copy checkpoints to a shared archive. Each file is written under a
 * temp name beside its target (`.<basename>.<eventId>.partial`), optionally fsynced, and renamed
 * over the final name: a reader sees the old file or the new one, never a partial one. Also the
 * destination that costs (almost) nothing, for load tests.
 */
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import {
  type Artifact,
  type ArtifactEventV1,
  artifactKey,
  type BlobReader,
  type ByteRange,
  createLogger,
  type Destination,
  DestinationError,
  type Logger,
  PermanentError,
  type RemoteContent,
  renderRemotePath,
  TransientError,
  type UploadContext,
  type UploadReceipt,
} from "@artifact-bus/shared";
import { type DirOptions, parseDirOptions } from "./dir-options.ts";
import { openLocalFile, pathOfLocation } from "./dir-read.ts";

const NAME_MAX = 255;
const BUFFER_BYTES = 1 << 20;

export interface DirDestinationInit {
  name: string;
  options: unknown;
  log?: Logger;
}

export class DirDestination implements Destination {
  readonly name: string;
  readonly options: DirOptions;
  private readonly log: Logger;

  /** Throws ConfigError naming the first bad option. */
  constructor(init: DirDestinationInit) {
    this.name = init.name;
    this.options = parseDirOptions(init.name, init.options);
    this.log = init.log ?? createLogger(init.name);
  }

  /** The file an event goes to; PermanentError if its name makes no valid path. */
  pathOf(event: Pick<ArtifactEventV1, "project" | "run" | "name" | "level" | "producer">): string {
    try {
      const relative = renderRemotePath(this.options.pathTemplate, "", event, artifactKey(event.name), {
        allowDotSegments: this.options.allowDotSegments,
      });
      return join(this.options.root, relative);
    } catch (err) {
      throw new PermanentError(
        `${this.name}: no valid path for ${JSON.stringify(event.name)}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  orderKey(event: ArtifactEventV1): string {
    return this.pathOf(event);
  }

  async upload(artifact: Artifact, ctx: UploadContext): Promise<UploadReceipt> {
    const { event } = artifact;
    const final = this.pathOf(event);
    const prefix = tempPrefix(basename(final), event.id.length);
    const temp = join(dirname(final), `${prefix}${event.id}.partial`);
    let reader: BlobReader | undefined;
    let written = false;
    try {
      await this.mkdirs(dirname(final));
      await removeStaleTemps(dirname(final), prefix, this.options.staleTempMaxAgeMs).catch((err: Error) =>
        ctx.log.warn({ error: err.message }, "could not sweep stale temp files"),
      );
      reader = await artifact.openReader(ctx.signal);
      written = true;
      const file = await open(temp, "w", 0o644);
      try {
        const buf = Buffer.allocUnsafe(Math.min(BUFFER_BYTES, Math.max(1, event.blob.size)));
        for (let done = 0; ; ) {
          if (ctx.signal.aborted) throw ctx.signal.reason;
          const n = await reader.fill(buf);
          if (n > 0) await file.write(buf, 0, n);
          done += n;
          ctx.heartbeat(done);
          if (n < buf.length) break;
        }
        if (this.options.fsync) await file.sync();
      } finally {
        await file.close();
      }
      const size = (await stat(temp)).size;
      if (size !== event.blob.size) throw new TransientError(`${temp} has ${size} bytes, expected ${event.blob.size}`);
      await rename(temp, final);
      if (this.options.fsync) await syncDir(dirname(final));
      return { location: `file://${encodeURI(final)}`, size, details: { path: final } };
    } catch (err) {
      if (written) await unlink(temp).catch(() => {});
      throw this.classify(err, ctx.signal, final);
    } finally {
      await reader?.close().catch(() => {});
    }
  }

  /** The bytes of an upload of this destination, whole or a range, from the file its location names. */
  async openRead(location: string, range: ByteRange | undefined, _signal: AbortSignal): Promise<RemoteContent> {
    return openLocalFile(pathOfLocation(location, this.options.root), range);
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
   */
  private async mkdirs(dir: string): Promise<void> {
    if (!(await stat(this.options.root).catch(() => undefined))?.isDirectory()) {
      throw new DestinationError(`${this.name}: root ${this.options.root} is not there (not mounted?)`);
    }
    await mkdir(dir, { recursive: true });
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

/** `.<basename>.` of a temp file, or a hash of the basename where it would make too long a name. */
function tempPrefix(base: string, idLength: number): string {
  const fits = Buffer.byteLength(base) + idLength + 11 <= NAME_MAX;
  return `.${fits ? base : createHash("sha256").update(base).digest("hex").slice(0, 32)}.`;
}

/** Removes temp files of the same target older than `maxAgeMs`, left by a killed uploader. */
async function removeStaleTemps(dir: string, prefix: string, maxAgeMs: number): Promise<void> {
  const cutoff = Date.now() - maxAgeMs;
  for (const name of await readdir(dir)) {
    if (!name.startsWith(prefix) || !/^[A-Za-z0-9_-]{8,64}\.partial$/.test(name.slice(prefix.length))) continue;
    const path = join(dir, name);
    const mtime = (await stat(path).catch(() => undefined))?.mtimeMs;
    if (mtime !== undefined && mtime < cutoff) await unlink(path).catch(() => {});
  }
}

/** fsync of a directory: its new entry survives a crash of the host. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
