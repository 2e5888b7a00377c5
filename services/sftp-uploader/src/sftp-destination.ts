/**
 * The SFTP destination: writes each artifact to a temp name beside its target and renames it
 * over the final name, so a reader sees the old bytes or the new ones, never a partial file.
 * The temp name is fixed per event (`.<basename>.<eventId>.partial`), so a retry after a crash
 * finds its predecessor's leftover: it resumes after the part of it that matches the staged bytes
 * (sftp-resume.ts) and overwrites the rest, instead of leaking it or starting from byte zero.
 */
import { posix } from "node:path";
import type {
  Artifact,
  ArtifactEventV1,
  BlobReader,
  ByteRange,
  Destination,
  RemoteContent,
  RemoteReadOptions,
  UploadContext,
  UploadReceipt,
} from "@artifact-bus/shared";
import {
  createLogger,
  DestinationError,
  filePathProblem,
  type Logger,
  PermanentError,
  RemoteNotFoundError,
  renderRemotePath,
  TransientError,
  tempPath,
  tempPrefix,
} from "@artifact-bus/shared";
import { abortError } from "./abort.ts";
import { isNoSuchFile } from "./sftp-errors.ts";
import { mkdirs, removeStaleTemps, replace, stat, unlinkIfPresent, writeFile } from "./sftp-ops.ts";
import { parseSftpOptions, type SftpOptions, type SftpSecrets, secretsFromEnv } from "./sftp-options.ts";
import { hashRemote, openRemoteFile, pathOfLocation } from "./sftp-read.ts";
import { matchedPrefix } from "./sftp-resume.ts";
import type { SftpTransport } from "./sftp-transport.ts";
import { createTransport } from "./transport-choice.ts";

export interface SftpDestinationInit {
  /** Full destination name, e.g. `sftp:archive`. */
  name: string;
  /** The destination's `options` from the config; validated here. */
  options: unknown;
  /** Default: from the environment (ARTIFACT_BUS_SFTP_PASSPHRASE, ARTIFACT_BUS_SFTP_PASSWORD). */
  secrets?: SftpSecrets;
  log?: Logger;
}

/** Remote paths an event maps to. */
export interface RemotePaths {
  final: string;
  dir: string;
  /** What every temp name of this artifact starts with. */
  tempPrefix: string;
  temp: string;
  backup: string;
}

export class SftpDestination implements Destination {
  readonly name: string;
  readonly options: SftpOptions;
  private readonly connection: SftpTransport;
  private readonly log: Logger;

  /** Throws ConfigError naming the first bad option. */
  constructor(init: SftpDestinationInit) {
    const secrets = init.secrets ?? secretsFromEnv();
    this.name = init.name;
    this.options = parseSftpOptions(init.options, secrets);
    this.log = init.log ?? createLogger(init.name);
    this.connection = createTransport(this.options, secrets, this.log);
  }

  /** The transport in use ("auto" resolved). */
  get transport(): "ssh2" | "openssh" {
    return this.connection.kind;
  }

  /** Logins so far: ssh2 connections (one while the server stays up), or OpenSSH sessions (up to maxChannels). */
  get connects(): number {
    return this.connection.connects;
  }

  /**
   * Where an event's bytes go, and the temp and backup names beside it; PermanentError if nowhere
   * valid: a path past NAME_MAX or PATH_MAX (path-limits.ts) is refused here, before any request,
   * naming the lengths (the server would answer BAD_MESSAGE, a PermanentError without them: sftp-errors.ts).
   */
  pathsOf(event: Pick<ArtifactEventV1, "id" | "project" | "run" | "name" | "level" | "producer">): RemotePaths {
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
    const final = posix.join(o.root, relative);
    const dir = posix.dirname(final);
    const prefix = tempPrefix(posix.basename(final), event.id.length);
    const temp = tempPath(final, event.id);
    const rendered = { name: event.name, template: o.pathTemplate, base: { label: "root" as const, value: o.root } };
    const problem = filePathProblem(final, relative, rendered, temp);
    if (problem) throw new PermanentError(`${this.name}: ${problem}`);
    return { final, dir, tempPrefix: prefix, temp, backup: posix.join(dir, `${prefix}${event.id}.old`) };
  }

  /** Versions are ordered per remote path. */
  orderKey(event: ArtifactEventV1): string {
    return this.pathsOf(event).final;
  }

  async upload(artifact: Artifact, ctx: UploadContext): Promise<UploadReceipt> {
    const { event } = artifact;
    const paths = this.pathsOf(event);
    const stall = new StallWatch(this.options.stallTimeoutMs);
    const signal = AbortSignal.any([ctx.signal, stall.signal]);
    let sent = 0;
    const progress = (bytes = 0) => {
      sent += bytes;
      stall.touch();
      ctx.heartbeat(sent);
    };
    let tempWritten = false;
    let reader: BlobReader | undefined;
    try {
      return await this.connection.withChannel(signal, async (sftp) => {
        await mkdirs(sftp, this.options.root, paths.dir);
        progress(0);
        await removeStaleTemps(sftp, paths.dir, paths.tempPrefix, this.options.staleTempMaxAgeMs).catch((err: Error) =>
          ctx.log.warn({ error: err.message }, "could not sweep stale sftp temp files"),
        );
        reader = await artifact.openReader(signal);
        // An earlier attempt of this event left its temp file: go on after what of it is right.
        const from = await matchedPrefix(sftp, paths.temp, reader, event.blob.size, progress);
        if (from) ctx.log.info({ temp: paths.temp, from: from.position }, "resuming sftp upload");
        tempWritten = true;
        await writeFile(sftp, paths.temp, reader, progress, from);
        const written = await stat(sftp, paths.temp);
        if (written.size !== event.blob.size) {
          throw new TransientError(
            `${paths.temp} has ${written.size} bytes after the upload, expected ${event.blob.size}`,
          );
        }
        if (this.options.verifyByReadback) {
          const sha256 = await hashRemote(sftp, paths.temp, written.size ?? 0, () => progress());
          if (sha256 !== event.blob.sha256) {
            throw new TransientError(`${paths.temp} reads back with sha256 ${sha256}, expected ${event.blob.sha256}`);
          }
        }
        await ctx.beforeVisible(); // the rename makes it visible: only while the lease holds
        const method = await replace(sftp, paths.temp, paths.final, paths.backup);
        tempWritten = false;
        return {
          location: this.locationOf(paths.final),
          size: written.size ?? event.blob.size,
          details: { path: paths.final, rename: method },
        };
      });
    } catch (err) {
      const error = signal.aborted ? this.abortReason(ctx.signal, stall) : toKnown(err);
      // Interrupted under the runtime (shutdown, a lost lease, the attempt's timeout): kept for
      // the next attempt to resume, which may already be writing it after a takeover. A failure
      // of the write itself, or a caller that resumes nothing, removes it, as ever.
      const keep = ctx.signal.aborted && ctx.resume !== undefined;
      if (tempWritten && !keep) await this.removeTemp(paths.temp, ctx.log);
      throw error;
    } finally {
      stall.stop();
      await reader?.close().catch(() => {});
    }
  }

  /** Connects if needed and checks that `root` is a directory. */
  async probe(signal: AbortSignal): Promise<void> {
    await this.connection
      .withChannel(signal, async (sftp) => {
        const attrs = await stat(sftp, this.options.root);
        if (!attrs.isDirectory()) throw new DestinationError(`sftp root ${this.options.root} is not a directory`);
      })
      .catch((err: unknown) => {
        if (isNoSuchFile(err))
          throw new DestinationError(`sftp root ${this.options.root} does not exist`, { cause: err });
        throw err;
      });
  }

  /**
   * Streams the file at `location` (this server, under root). The body holds one of the
   * connection's channels until it ends or is destroyed; `signal` aborts the read.
   */
  async openRead(
    location: string,
    range: ByteRange | undefined,
    signal: AbortSignal,
    options?: RemoteReadOptions,
  ): Promise<RemoteContent> {
    const path = pathOfLocation(location, this.options);
    return new Promise<RemoteContent>((resolve, reject) => {
      this.connection
        .withChannel(signal, async (sftp) => {
          const { content, finished } = await openRemoteFile(sftp, path, range, options);
          resolve(content);
          await finished;
        })
        .catch((err: unknown) => reject(err instanceof RemoteNotFoundError ? err : toKnown(err)));
    });
  }

  /** Unlinks the files (this server, under root) in order; one already gone counts as removed. */
  async remove(locations: readonly string[], signal: AbortSignal): Promise<void> {
    const paths = locations.map((l) => pathOfLocation(l, this.options));
    await this.connection
      .withChannel(signal, async (sftp) => {
        for (const path of paths) await unlinkIfPresent(sftp, path);
      })
      .catch((err: unknown) => Promise.reject(toKnown(err)));
  }

  async close(): Promise<void> {
    await this.connection.close();
  }

  private locationOf(path: string): string {
    const { host, port } = this.options;
    return `sftp://${host.includes(":") ? `[${host}]` : host}${port === 22 ? "" : `:${port}`}${encodeURI(path)}`;
  }

  private abortReason(outer: AbortSignal, stall: StallWatch): TransientError {
    if (outer.aborted) return abortError(outer);
    return new TransientError(`sftp upload made no progress for ${stall.timeoutMs} ms`, { cause: stall.signal.reason });
  }

  /** Best effort on a fresh channel: the upload's own channel may be the thing that failed. */
  private async removeTemp(temp: string, log: Logger): Promise<void> {
    try {
      await this.connection.withChannel(AbortSignal.timeout(5000), (sftp) => unlinkIfPresent(sftp, temp));
    } catch (err) {
      // The next attempt of this event reuses and truncates the same temp name.
      log.warn({ temp, error: (err as Error).message }, "could not remove sftp temp file");
    }
  }
}

function toKnown(err: unknown): Error {
  if (err instanceof TransientError || err instanceof PermanentError || err instanceof DestinationError) return err;
  return new TransientError(`sftp upload failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/** Aborts its signal when touch() has not been called for `timeoutMs`. */
class StallWatch {
  readonly timeoutMs: number;
  private readonly controller = new AbortController();
  private last = Date.now();
  private readonly timer: NodeJS.Timeout;
  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
    this.timer = setInterval(
      () => {
        if (Date.now() - this.last >= timeoutMs) this.controller.abort(new Error(`stalled for ${timeoutMs} ms`));
      },
      Math.max(10, Math.min(1000, timeoutMs / 4)),
    );
    this.timer.unref();
  }
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  touch(): void {
    this.last = Date.now();
  }
  stop(): void {
    clearInterval(this.timer);
  }
}
