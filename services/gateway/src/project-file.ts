/**
 * A file a client names by path (`POST .../artifacts`), opened for the request's project only.
 * The project's directories are the `gateway.allowedDirs` entries with `{project}` filled in; the
 * file must lie in one of them with no symbolic link anywhere below it (the directory itself may be
 * one, as the operator set it up). It is opened without following a link in its last component,
 * then checked on the opened descriptor: its path resolves to itself, and the file there now is
 * the one opened (dev and ino). So a swap of a directory for a link between the check and the open
 * cannot reach another project's file: the descriptor, not the path, is what gets staged.
 */
import { constants } from "node:fs";
import { type FileHandle, lstat, open, realpath } from "node:fs/promises";
import { isAbsolute, join, resolve, sep } from "node:path";
import { type CheckedFile, PROJECT_PLACEHOLDER } from "@artifact-bus/shared";
import { Problem } from "./problems.ts";

// O_NONBLOCK: a FIFO planted under the name opens at once (and is refused as not a regular file)
// instead of blocking the gateway's thread pool until a writer comes.
const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
// Opening a descriptor's /proc entry reopens that very file, wherever its path now leads.
const FD_DIR = process.platform === "linux" ? "/proc/self/fd" : "/dev/fd";

/** A file opened for a project; close `handle` once it is staged. */
export interface ProjectFile extends CheckedFile {
  handle: FileHandle;
  /** The checked path: under the project's directory, no symbolic link below it. */
  path: string;
  /** Owner of the opened file. */
  uid: number;
}

/**
 * Opens `path` for `project`, or throws the problem saying why not: `path-not-allowed` (outside
 * the project's directories, or through a symbolic link), `not-found`, `invalid-request` (not
 * absolute, holding a NUL, not a regular file). Whether a file exists outside them is not told.
 */
export async function openProjectFile(path: string, project: string, allowedDirs: string[]): Promise<ProjectFile> {
  if (!isAbsolute(path)) throw new Problem("invalid-request", "path must be absolute", { field: "path" });
  // No file's name holds a NUL, and the system calls below throw on one.
  if (path.includes("\0")) throw new Problem("invalid-request", "path holds a NUL byte", { field: "path" });
  if (allowedDirs.length === 0) {
    throw new Problem("path-not-allowed", "this gateway stages no files by path (gateway.allowedDirs is empty)", {
      field: "path",
    });
  }
  const wanted = resolve(path);
  for (const entry of allowedDirs) {
    const dir = resolve(entry.replace(PROJECT_PLACEHOLDER, project));
    const real = await realpath(dir).catch(() => undefined);
    // The client may name the file through the configured directory or its real path.
    const rel = [dir, real].flatMap((d) =>
      d !== undefined && wanted.startsWith(d + sep) ? [wanted.slice(d.length + 1)] : [],
    )[0];
    if (rel === undefined) continue;
    if (real === undefined) throw new Problem("not-found", `no file at ${path}`, { field: "path" });
    return await openChecked(path, join(real, rel));
  }
  throw new Problem(
    "path-not-allowed",
    `${path} is not inside project ${project}'s directories (gateway.allowedDirs)`,
    {
      field: "path",
    },
  );
}

async function openChecked(asked: string, path: string): Promise<ProjectFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ELOOP") throw linked(asked);
    if (code === "ENOENT" || code === "ENOTDIR")
      throw new Problem("not-found", `no file at ${asked}`, { field: "path" });
    if (code === "EACCES")
      throw new Problem("path-not-allowed", `the gateway may not read ${asked}`, { field: "path" });
    throw err;
  }
  try {
    const st = await handle.stat({ bigint: true });
    if (!st.isFile()) throw new Problem("invalid-request", `${asked} is not a regular file`, { field: "path" });
    // After the open: a directory swapped for a link before it shows here, and one swapped back
    // leaves another file at the path than the one opened.
    if ((await realpath(path).catch(() => undefined)) !== path) throw linked(asked);
    const now = await lstat(path, { bigint: true }).catch(() => undefined);
    if (now?.dev !== st.dev || now.ino !== st.ino) throw linked(asked);
    return { handle, path, readPath: `${FD_DIR}/${handle.fd}`, dev: st.dev, ino: st.ino, uid: Number(st.uid) };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

function linked(path: string): Problem {
  return new Problem("path-not-allowed", `${path} is or passes through a symbolic link below the project's directory`, {
    field: "path",
  });
}
