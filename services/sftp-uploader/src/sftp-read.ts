/**
 * Reading an uploaded file back over SFTP, streamed with a few READ requests in flight: the
 * upload's read-back hash, and the gateway's content endpoint. The file is opened once: a newer
 * version renamed over it meanwhile does not mix into the bytes being read (the open handle keeps
 * the old file). ssh2's read stream is avoided: it closes its handle after the last read and
 * throws an uncaught error if the channel is gone by then.
 */
import { createHash } from "node:crypto";
import { posix } from "node:path";
import { Readable } from "node:stream";
import {
  type ByteRange,
  PermanentError,
  type RemoteContent,
  RemoteNotFoundError,
  type RemoteReadOptions,
  TransientError,
} from "@artifact-bus/shared";
import type { SftpChannel } from "./sftp-channel.ts";
import { isNoSuchFile } from "./sftp-errors.ts";
import { call, stat } from "./sftp-ops.ts";
import type { SftpOptions } from "./sftp-options.ts";

/** READ requests outstanding at once. */
const IN_FLIGHT = 16;

/** The remote path of a location this destination gave; PermanentError for any other server or a path outside root. */
export function pathOfLocation(location: string, o: Pick<SftpOptions, "host" | "port" | "root">): string {
  const host = o.host.includes(":") ? `[${o.host}]` : o.host;
  const head = `sftp://${host}${o.port === 22 ? "" : `:${o.port}`}`;
  let path: string | undefined;
  try {
    path = location.startsWith(`${head}/`) ? decodeURI(location.slice(head.length)) : undefined;
  } catch {
    path = undefined;
  }
  const relative = path === undefined ? "" : posix.relative(o.root, posix.normalize(path));
  if (path === undefined || relative === "" || relative.startsWith("..") || posix.isAbsolute(relative)) {
    throw new PermanentError(`${JSON.stringify(location)} is not a file of ${head}${o.root}`);
  }
  return posix.join(o.root, relative);
}

/**
 * Opens `path` on `sftp` and resolves with its content; `finished` settles once the body ended
 * or was destroyed, and the handle is closed (the caller keeps its channel until then). With
 * `sha256`, the whole file is hashed through the same handle first (see RemoteReadOptions).
 */
export async function openRemoteFile(
  sftp: SftpChannel,
  path: string,
  range: ByteRange | undefined,
  options: RemoteReadOptions = {},
): Promise<{ content: RemoteContent; finished: Promise<void> }> {
  const attrs = await stat(sftp, path).catch((err: unknown) => {
    if (isNoSuchFile(err)) throw new RemoteNotFoundError(`${path}: no such file`, { cause: err });
    throw err;
  });
  const handle = await call(sftp, `open ${path}`, (c) => c.open(path, "r"));
  const close = () => call(sftp, `close ${path}`, (c) => c.close(handle)).catch(() => undefined);
  let size = attrs.size ?? 0;
  let sha256: string | undefined;
  try {
    if (options.sha256) {
      // The size of the file the handle holds: the path may name a newer one by now.
      size = (await call(sftp, `fstat ${path}`, (c) => c.fstat(handle))).size ?? 0;
      const hash = createHash("sha256");
      for await (const chunk of readPieces(sftp, handle, path, 0, size, { endsAt: endsEarly(path) })) {
        hash.update(chunk);
      }
      sha256 = hash.digest("hex");
    }
  } catch (err) {
    await close();
    throw err;
  }
  const first = range?.first ?? 0;
  const end = range ? range.last + 1 : size;
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      yield* readPieces(sftp, handle, path, first, end, { endsAt: endsEarly(path) });
    } finally {
      await close();
    }
  }
  const body = Readable.from(chunks(), { objectMode: false, highWaterMark: 1 << 20 });
  const finished = new Promise<void>((resolve) => body.once("close", () => resolve()));
  return { content: { body, size, ...(range ? { range } : {}), ...(sha256 ? { sha256 } : {}) }, finished };
}

/** A file read for the gateway that ends before its expected size. */
function endsEarly(path: string): (offset: number) => Error {
  return (offset) => new Error(`read ${path}: ends at ${offset} bytes`);
}

/**
 * sha256 (hex) of the first `size` bytes of a remote file, read back with IN_FLIGHT READ
 * requests outstanding; `onProgress` runs as each piece is hashed.
 */
export async function hashRemote(sftp: SftpChannel, path: string, size: number, onProgress: () => void) {
  const handle = await call(sftp, `open ${path}`, (c) => c.open(path, "r"));
  const hash = createHash("sha256");
  // The upload just wrote `size` bytes: a shorter file fails this attempt, not the artifact.
  const endsAt = (offset: number) => new TransientError(`read back ${path}: ends at ${offset} bytes`);
  try {
    for await (const chunk of readPieces(sftp, handle, path, 0, size, { endsAt, onPiece: onProgress })) {
      hash.update(chunk);
    }
  } finally {
    await call(sftp, `close ${path}`, (c) => c.close(handle)).catch(() => undefined);
  }
  return hash.digest("hex");
}

/**
 * Bytes `first` to `end` (exclusive) of an open handle, in order, with IN_FLIGHT READ requests
 * of pieceSize bytes outstanding. `onPiece` runs once a piece is all yielded; a file that ends
 * before `end` rejects with `endsAt(offset)`.
 */
export async function* readPieces(
  sftp: SftpChannel,
  handle: Buffer,
  path: string,
  first: number,
  end: number,
  on: { endsAt: (offset: number) => Error; onPiece?: () => void },
): AsyncGenerator<Buffer> {
  const piece = sftp.maxPiece;
  const read = (offset: number, length: number) => {
    const done = call(sftp, `read ${path}`, (c) => c.read(handle, length, offset));
    done.catch(() => undefined); // awaited in order; an early failure must not go unhandled
    return done;
  };
  const queue: { offset: number; length: number; data: Promise<Buffer> }[] = [];
  let requested = first;
  for (;;) {
    while (queue.length < IN_FLIGHT && requested < end) {
      const length = Math.min(piece, end - requested);
      queue.push({ offset: requested, length, data: read(requested, length) });
      requested += length;
    }
    const next = queue.shift();
    if (!next) return;
    // A server may answer a READ with fewer bytes than asked; fetch the rest in order.
    for (let got = 0; got < next.length; ) {
      const chunk = got === 0 ? await next.data : await read(next.offset + got, next.length - got);
      if (chunk.length === 0) throw on.endsAt(next.offset + got);
      got += chunk.length;
      yield chunk;
    }
    on.onPiece?.();
  }
}
