/**
 * Reading a file of the dir destination back (the gateway's content endpoint, Composer's
 * autoresume). The file is opened once: a newer version renamed over it meanwhile does not mix
 * into the bytes being read (the open descriptor keeps the old file).
 */
import { open } from "node:fs/promises";
import { isAbsolute, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { type ByteRange, PermanentError, type RemoteContent, RemoteNotFoundError } from "@artifact-bus/shared";

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

/** Opens the file at `path` and streams it, or `range` of it. */
export async function openLocalFile(path: string, range: ByteRange | undefined): Promise<RemoteContent> {
  const file = await open(path, "r").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") throw new RemoteNotFoundError(`${path}: no such file`, { cause: err });
    throw err;
  });
  try {
    const { size } = await file.stat();
    const start = range?.first ?? 0;
    const end = range ? range.last : size - 1;
    const body = file.createReadStream({ start, end, highWaterMark: 1 << 20, autoClose: true });
    return { body, size, ...(range ? { range } : {}) };
  } catch (err) {
    await file.close();
    throw err;
  }
}
