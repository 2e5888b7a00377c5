/**
 * Reading a file of the dir destination back (the gateway's content endpoint, Composer's
 * autoresume). The file is opened once: a newer version renamed over it meanwhile does not mix
 * into the bytes being read (the open descriptor keeps the old file).
 */
import { createHash } from "node:crypto";
import { type FileHandle, open } from "node:fs/promises";
import { isAbsolute, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type ByteRange,
  PermanentError,
  type RemoteContent,
  RemoteNotFoundError,
  type RemoteReadOptions,
} from "@artifact-bus/shared";

/** The path of a `file://` location under `root`; PermanentError for anything else. */
export function pathOfLocation(location: string, root: string): string {
  let path: string | undefined;
  try {
    path = location.startsWith("file:///") ? normalize(fileURLToPath(location)) : undefined;
  } catch {
    path = undefined;
  }
  const rel = path === undefined ? "" : relative(root, path);
  if (path === undefined || rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
    throw new PermanentError(`${JSON.stringify(location)} is not a file under ${root}`);
  }
  return path;
}

/**
 * Opens the file at `path` and streams it, or `range` of it; with `sha256`, hashes the whole
 * file through the same descriptor first (see RemoteReadOptions).
 */
export async function openLocalFile(
  path: string,
  range: ByteRange | undefined,
  options: RemoteReadOptions = {},
): Promise<RemoteContent> {
  const file = await open(path, "r").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") throw new RemoteNotFoundError(`${path}: no such file`, { cause: err });
    throw err;
  });
  try {
    const { size } = await file.stat();
    const sha256 = options.sha256 ? await hashOpenFile(file, size) : undefined;
    const start = range?.first ?? 0;
    const end = range ? range.last : size - 1;
    const body = file.createReadStream({ start, end, highWaterMark: 1 << 20, autoClose: true });
    return { body, size, ...(range ? { range } : {}), ...(sha256 ? { sha256 } : {}) };
  } catch (err) {
    await file.close();
    throw err;
  }
}

/** sha256 (hex) of the first `size` bytes of an open file, read by position. */
async function hashOpenFile(file: FileHandle, size: number): Promise<string> {
  const hash = createHash("sha256");
  const buf = Buffer.allocUnsafe(Math.min(1 << 20, Math.max(1, size)));
  for (let at = 0; at < size; ) {
    const { bytesRead } = await file.read(buf, 0, Math.min(buf.length, size - at), at);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    at += bytesRead;
  }
  return hash.digest("hex");
}
