/**
 * The SFTP requests an upload is made of, as promises whose errors are already classified:
 * mkdir -p, a pipelined write, stale temp cleanup and the atomic rename (the read-back hash
 * is in sftp-read.ts, with the other pipelined reads).
 */
import { posix } from "node:path";
import { type BlobReader, DestinationError, PermanentError, TransientError } from "@artifact-bus/shared";
import type { SFTPWrapper, Stats } from "ssh2";
import { isNoSuchFile, sftpError } from "./sftp-errors.ts";

/** Bytes per WRITE request that every server accepts (draft-02 requires 32 KiB). */
const SAFE_PIECE = 32 * 1024;
/** Bytes of WRITE requests awaiting their status: keeps the pipe full over a long round trip. */
const MAX_IN_FLIGHT = 8 * 1024 * 1024;

/**
 * The largest WRITE the server takes. ssh2 learns it from OpenSSH's limits@openssh.com (255 KiB
 * there) but keeps it private; larger writes it splits into requests sent one after another.
 * Bigger requests cut per-request overhead, which made an upload as fast as fastPut: we do not
 * use fastPut because it would bypass the runtime's sha256 check
 * of the staged bytes (the artifact's reader verifies them as they pass).
 */
export function pieceSize(sftp: SFTPWrapper): number {
  const learned = (sftp as unknown as { _maxWriteLen?: unknown })._maxWriteLen;
  return typeof learned === "number" && learned >= SAFE_PIECE ? Math.min(learned, 256 * 1024) : SAFE_PIECE;
}

/**
 * Whether requests sent now can still be answered. ssh2 takes requests on a channel that is
 * closing, or whose connection died, and never answers those sent after it noticed, so we must
 * not send any: both directions of the channel have to be open (fields typed `unknown` by ssh2).
 */
function isOpen(sftp: SFTPWrapper): boolean {
  const channel = sftp as unknown as { outgoing?: { state?: unknown }; incoming?: { state?: unknown } };
  return channel.outgoing?.state === "open" && channel.incoming?.state === "open";
}

export function call<T>(
  sftp: SFTPWrapper,
  what: string,
  run: (cb: (err: Error | null | undefined, value?: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (!isOpen(sftp)) {
      reject(new TransientError(`${what}: sftp channel is closed`));
      return;
    }
    try {
      run((err, value) => (err ? reject(sftpError(err, what)) : resolve(value as T)));
    } catch (err) {
      reject(sftpError(err, what));
    }
  });
}

export function stat(sftp: SFTPWrapper, path: string): Promise<Stats> {
  return call(sftp, `stat ${path}`, (cb) => sftp.stat(path, cb));
}

/** Removes a file; a file that is already gone is fine. */
export async function unlinkIfPresent(sftp: SFTPWrapper, path: string): Promise<void> {
  await call(sftp, `unlink ${path}`, (cb) => sftp.unlink(path, cb)).catch((err: unknown) => {
    if (!isNoSuchFile(err)) throw err;
  });
}

function rename(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  return call(sftp, `rename ${from} to ${to}`, (cb) => sftp.rename(from, to, cb));
}

/** Creates `dir` and its missing parents below `root` (which must exist). */
export async function mkdirs(sftp: SFTPWrapper, root: string, dir: string): Promise<void> {
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
      await call(sftp, `mkdir ${current}`, (cb) => sftp.mkdir(current, cb));
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
 * One read buffer serves the whole file: ssh2 copies each piece into its packet as it is sent.
 * With `from` (a resumed upload), the file is kept and written from `from.position` on,
 * `from.pending` first. Returns the number of bytes written; `onProgress` runs as writes are
 * acknowledged.
 */
export async function writeFile(
  sftp: SFTPWrapper,
  path: string,
  reader: BlobReader,
  onProgress: (bytes: number) => void,
  from?: { position: number; pending: Buffer },
): Promise<number> {
  const handle = await call<Buffer>(sftp, `open ${path}`, (cb) => sftp.open(path, from ? "r+" : "w", cb));
  const PIECE = pieceSize(sftp);
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
      if (!isOpen(sftp)) throw new TransientError(`write ${path}: sftp channel is closed`);
      const piece = data.subarray(offset, Math.min(offset + PIECE, data.length));
      inFlight += piece.length;
      sftp.write(handle, piece, 0, piece.length, position, (err) => {
        inFlight -= piece.length;
        if (err) failure ??= sftpError(err, `write ${path}`);
        else onProgress(piece.length);
        if (wake && (inFlight <= MAX_IN_FLIGHT - PIECE || failure)) {
          const w = wake;
          wake = undefined;
          w();
        }
      });
      position += piece.length;
    }
  };
  try {
    // The pending bytes are sent before the buffer is refilled: ssh2 copies each piece as it goes.
    if (from?.pending.length) await send(from.pending);
    for (let n = buf.length; n === buf.length; ) {
      n = await reader.fill(buf);
      await send(buf.subarray(0, n));
    }
    while (inFlight > 0 && !failure) await waitForAcks(0);
    if (failure) throw failure;
  } catch (err) {
    await call(sftp, `close ${path}`, (cb) => sftp.close(handle, cb)).catch(() => undefined);
    throw err;
  }
  await call(sftp, `close ${path}`, (cb) => sftp.close(handle, cb));
  return position;
}

/** Bytes read from the blob at a time. */
const READ_BYTES = 1024 * 1024;

/**
 * Removes leftovers of earlier attempts at the same artifact in `dir`: temp names that start
 * with `prefix`, end in an event id and `.partial`, and were last written over `maxAgeMs` ago
 * (a younger one may belong to an upload still running elsewhere). Best effort.
 */
export async function removeStaleTemps(sftp: SFTPWrapper, dir: string, prefix: string, maxAgeMs: number) {
  const entries = await call<{ filename: string; attrs: Stats }[]>(sftp, `readdir ${dir}`, (cb) =>
    sftp.readdir(dir, cb),
  );
  const cutoff = (Date.now() - maxAgeMs) / 1000;
  for (const { filename, attrs } of entries) {
    if (!filename.startsWith(prefix)) continue;
    if (!/^[A-Za-z0-9_-]{8,64}\.partial$/.test(filename.slice(prefix.length))) continue;
    if (attrs.mtime < cutoff) await unlinkIfPresent(sftp, posix.join(dir, filename));
  }
}

/** How the temp file got its final name. */
export type RenameMethod = "posix-rename" | "rename-swap";

/**
 * Moves `temp` over `target` atomically with OpenSSH's posix-rename extension. Without it,
 * plain SFTP rename refuses an existing target, so the old file is moved to `backup` first:
 * for a moment between the two renames no file has the final name (but never a partial one).
 */
export async function replace(sftp: SFTPWrapper, temp: string, target: string, backup: string): Promise<RenameMethod> {
  const offered = await new Promise<boolean>((resolve, reject) => {
    if (!isOpen(sftp)) {
      reject(new TransientError(`rename ${temp}: sftp channel is closed`));
      return;
    }
    try {
      sftp.ext_openssh_rename(temp, target, (err) => (err ? reject(sftpError(err, `rename ${temp}`)) : resolve(true)));
    } catch (err) {
      if (/does not support/.test((err as Error).message)) resolve(false);
      else reject(sftpError(err, `rename ${temp}`));
    }
  });
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
