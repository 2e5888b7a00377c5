/**
 * The SFTP requests an upload is made of, as promises whose errors are already classified:
 * mkdir -p, a pipelined write, stale temp cleanup and the atomic rename (the read-back hash
 * is in sftp-read.ts, with the other pipelined reads).
 */
import { posix } from "node:path";
import { type BlobReader, DestinationError, PermanentError, TransientError } from "@artifact-bus/shared";
import type { RemoteAttrs, RemoteEntry, SftpChannel } from "./sftp-channel.ts";
import { isNoSuchFile, sftpError } from "./sftp-errors.ts";

/** Bytes of WRITE requests awaiting their status: keeps the pipe full over a long round trip. */
const MAX_IN_FLIGHT = 8 * 1024 * 1024;

/** Runs one request on `sftp`, its error classified with `what` (operation and path). */
export function call<T>(sftp: SftpChannel, what: string, run: (sftp: SftpChannel) => Promise<T>): Promise<T> {
  if (!sftp.isOpen) return Promise.reject(new TransientError(`${what}: sftp channel is closed`));
  try {
    return run(sftp).catch((err: unknown) => Promise.reject(sftpError(err, what)));
  } catch (err) {
    return Promise.reject(sftpError(err, what));
  }
}

export function stat(sftp: SftpChannel, path: string): Promise<RemoteAttrs> {
  return call(sftp, `stat ${path}`, (c) => c.stat(path));
}

/** Removes a file; a file that is already gone is fine. */
export async function unlinkIfPresent(sftp: SftpChannel, path: string): Promise<void> {
  await call(sftp, `unlink ${path}`, (c) => c.unlink(path)).catch((err: unknown) => {
    if (!isNoSuchFile(err)) throw err;
  });
}

function rename(sftp: SftpChannel, from: string, to: string): Promise<void> {
  return call(sftp, `rename ${from} to ${to}`, (c) => c.rename(from, to));
}

/** Creates `dir` and its missing parents below `root` (which must exist). */
export async function mkdirs(sftp: SftpChannel, root: string, dir: string): Promise<void> {
  const existing = await stat(sftp, dir).catch((err: unknown) => {
    if (isNoSuchFile(err)) return undefined;
    throw err;
  });
  if (existing?.isDirectory()) return;
  if (existing) throw new PermanentError(`${dir} exists and is not a directory`);
  let current = root;
  for (const segment of posix.relative(root, dir).split("/")) {
    current = posix.join(current, segment);
    try {
      await call(sftp, `mkdir ${current}`, (c) => c.mkdir(current));
    } catch (err) {
      // OpenSSH reports an existing directory as a plain FAILURE, and a racing upload may win.
      const there = await stat(sftp, current).catch(() => undefined);
      if (there?.isDirectory()) continue;
      // The root itself gone is the destination's fault, not the artifact's: pause, do not drop.
      if (isNoSuchFile(err) && !(await stat(sftp, root).catch(() => undefined))?.isDirectory()) {
        throw new DestinationError(`sftp root ${root} does not exist`, { cause: err });
      }
      throw err;
    }
  }
}

/**
 * Writes the reader's bytes to `path` (created or truncated) with up to MAX_IN_FLIGHT bytes of
 * WRITE requests outstanding, as `sftp` and fastPut do; ssh2's write stream waits for each one.
 * (Not fastPut itself: it would bypass the runtime's sha256 check of the staged bytes, which the
 * artifact's reader verifies as they pass.)
 * One read buffer serves the whole file: the channel copies or sends each piece as it is given.
 * With `from` (a resumed upload), the file is kept and written from `from.position` on,
 * `from.pending` first. Returns the number of bytes written; `onProgress` runs as writes are
 * acknowledged.
 */
export async function writeFile(
  sftp: SftpChannel,
  path: string,
  reader: BlobReader,
  onProgress: (bytes: number) => void,
  from?: { position: number; pending: Buffer },
): Promise<number> {
  const handle = await call(sftp, `open ${path}`, (c) => c.open(path, from ? "r+" : "w"));
  const PIECE = sftp.maxPiece;
  const buf = Buffer.allocUnsafe(READ_BYTES);
  let position = from?.position ?? 0;
  let inFlight = 0;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const waitForAcks = (limit: number) =>
    new Promise<void>((resolve) => {
      if (inFlight <= limit || failure) resolve();
      else wake = resolve;
    });
  const send = async (data: Buffer) => {
    for (let offset = 0; offset < data.length; offset += PIECE) {
      await waitForAcks(MAX_IN_FLIGHT - PIECE);
      if (failure) throw failure;
      if (!sftp.isOpen) throw new TransientError(`write ${path}: sftp channel is closed`);
      const piece = data.subarray(offset, Math.min(offset + PIECE, data.length));
      inFlight += piece.length;
      const acked = (err?: unknown) => {
        inFlight -= piece.length;
        if (err) failure ??= sftpError(err, `write ${path}`);
        else onProgress(piece.length);
        if (wake && (inFlight <= MAX_IN_FLIGHT - PIECE || failure)) {
          const w = wake;
          wake = undefined;
          w();
        }
      };
      sftp.write(handle, piece, position).then(() => acked(), acked);
      position += piece.length;
    }
  };
  try {
    // The pending bytes are sent before the buffer is refilled: each piece is copied as it goes.
    if (from?.pending.length) await send(from.pending);
    for (let n = buf.length; n === buf.length; ) {
      n = await reader.fill(buf);
      await send(buf.subarray(0, n));
    }
    while (inFlight > 0 && !failure) await waitForAcks(0);
    if (failure) throw failure;
  } catch (err) {
    await call(sftp, `close ${path}`, (c) => c.close(handle)).catch(() => undefined);
    throw err;
  }
  await call(sftp, `close ${path}`, (c) => c.close(handle));
  return position;
}

/** Bytes read from the blob at a time. */
const READ_BYTES = 1024 * 1024;

/**
 * Removes leftovers of earlier attempts at the same artifact in `dir`: temp names that start
 * with `prefix`, end in an event id and `.partial`, and were last written over `maxAgeMs` ago
 * (a younger one may belong to an upload still running elsewhere). Best effort.
 */
export async function removeStaleTemps(sftp: SftpChannel, dir: string, prefix: string, maxAgeMs: number) {
  const entries: RemoteEntry[] = await call(sftp, `readdir ${dir}`, (c) => c.readdir(dir));
  const cutoff = (Date.now() - maxAgeMs) / 1000;
  for (const { filename, attrs } of entries) {
    if (!filename.startsWith(prefix)) continue;
    if (!/^[A-Za-z0-9_-]{8,64}\.partial$/.test(filename.slice(prefix.length))) continue;
    if ((attrs.mtime ?? 0) < cutoff) await unlinkIfPresent(sftp, posix.join(dir, filename));
  }
}

/** How the temp file got its final name. */
export type RenameMethod = "posix-rename" | "rename-swap";

/**
 * Moves `temp` over `target` atomically with OpenSSH's posix-rename extension. Without it,
 * plain SFTP rename refuses an existing target, so the old file is moved to `backup` first:
 * for a moment between the two renames no file has the final name (but never a partial one).
 */
export async function replace(sftp: SftpChannel, temp: string, target: string, backup: string): Promise<RenameMethod> {
  const offered = await call(sftp, `rename ${temp}`, (c) => c.posixRename(temp, target));
  if (offered) return "posix-rename";
  let movedAside = true;
  await rename(sftp, target, backup).catch((err: unknown) => {
    if (!isNoSuchFile(err)) throw err;
    movedAside = false;
  });
  try {
    await rename(sftp, temp, target);
  } catch (err) {
    if (movedAside) await rename(sftp, backup, target).catch(() => undefined);
    throw err;
  }
  if (movedAside) await unlinkIfPresent(sftp, backup).catch(() => undefined);
  return "rename-swap";
}
