/**
 * Resuming an SFTP upload: the temp name is fixed per event, so what an earlier attempt of the
 * same event (a killed replica, a failed try) wrote is still there. Its prefix is checked
 * against the staged bytes, a piece at a time (the remote piece hashed through the pipelined
 * read, the local one as the artifact's reader gives it, verified as ever), and the upload goes
 * on from the first piece that differs or is missing. Bytes past that are overwritten in place:
 * every attempt of the event writes the same size, so nothing stale can remain past the end.
 */
import { createHash } from "node:crypto";
import type { BlobReader } from "@artifact-bus/shared";
import type { SftpChannel } from "./sftp-channel.ts";
import { isNoSuchFile } from "./sftp-errors.ts";
import { call, stat } from "./sftp-ops.ts";
import { readPieces } from "./sftp-read.ts";

/** Bytes compared at a time: a mismatch costs at most this much of the prefix. */
export const RESUME_PIECE = 8 * 1024 * 1024;

/** Where a write continues: from `position`, `pending` (read from the blob, not yet written) first. */
export interface ResumePoint {
  position: number;
  pending: Buffer;
}

/**
 * How much of `temp` is the blob's own prefix, read through `reader` as far as it matches. Undefined
 * when there is nothing to resume (no temp file, an empty one, or one longer than the blob).
 */
export async function matchedPrefix(
  sftp: SftpChannel,
  temp: string,
  reader: BlobReader,
  size: number,
  onProgress: (bytes: number) => void,
): Promise<ResumePoint | undefined> {
  let remoteSize: number;
  try {
    remoteSize = (await stat(sftp, temp)).size ?? 0;
  } catch (err) {
    if (isNoSuchFile(err)) return undefined;
    throw err;
  }
  if (remoteSize === 0 || remoteSize > size) return undefined;
  const handle = await call(sftp, `open ${temp}`, (c) => c.open(temp, "r"));
  const endsAt = (offset: number) => new Error(`${temp} ends at ${offset}`);
  let position = 0;
  try {
    while (position < remoteSize) {
      const length = Math.min(RESUME_PIECE, remoteSize - position);
      const local = Buffer.allocUnsafe(length);
      const n = await reader.fill(local);
      const mine = createHash("sha256").update(local.subarray(0, n)).digest("hex");
      const theirs = createHash("sha256");
      for await (const chunk of readPieces(sftp, handle, temp, position, position + length, { endsAt }))
        theirs.update(chunk);
      if (n < length || theirs.digest("hex") !== mine) return { position, pending: local.subarray(0, n) };
      position += n;
      onProgress(n);
    }
  } finally {
    await call(sftp, `close ${temp}`, (c) => c.close(handle)).catch(() => undefined);
  }
  return { position, pending: Buffer.alloc(0) };
}
