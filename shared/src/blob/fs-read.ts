/**
 * Reading a blob staged in the fs store: as a stream, whole, or into the caller's buffers. Each
 * opens the file first, not stat-ing it: there is no window in which the blob can vanish
 * unnoticed, and a blob that is gone surfaces as BlobMissingError.
 */
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { BlobRef } from "../contract/schema.ts";
import { type BlobReader, fileReader, readWhole } from "./blob-reader.ts";
import { readHeadSync, SMALL_FILE_BYTES } from "./bounded-read.ts";
import { blobPath, codeOf } from "./fs-run-dir.ts";
import { readBufferBytes } from "./hash.ts";
import { BlobMissingError } from "./store.ts";

/** The blob `ref` in the staging dir `dir`, as a stream (BlobStore.open). */
export async function openBlobStream(dir: string, ref: BlobRef): Promise<Readable> {
  const path = blobPath(dir, ref);
  try {
    const file = await open(path, "r");
    return file.createReadStream({ highWaterMark: readBufferBytes(ref.size) });
  } catch (err) {
    throw missingOr(dir, ref, err);
  }
}

/** The blob `ref` in the staging dir `dir`, whole, up to `ref.size + 1` bytes (BlobStore.read). */
export async function readBlob(dir: string, ref: BlobRef): Promise<Buffer> {
  const path = blobPath(dir, ref);
  try {
    if (ref.size <= SMALL_FILE_BYTES) return readHeadSync(path, ref.size + 1);
    return await readWhole(fileReader(await open(path, "r")), ref.size + 1);
  } catch (err) {
    throw missingOr(dir, ref, err);
  }
}

/** The blob `ref` in the staging dir `dir`, for reads into the caller's buffers (BlobStore.openReader). */
export async function openBlobReader(dir: string, ref: BlobRef): Promise<BlobReader> {
  const path = blobPath(dir, ref);
  try {
    return fileReader(await open(path, "r"));
  } catch (err) {
    throw missingOr(dir, ref, err);
  }
}

/** BlobMissingError for a file that is not there; any other error as it is. */
function missingOr(dir: string, ref: BlobRef, err: unknown): unknown {
  if (codeOf(err) !== "ENOENT") return err;
  return new BlobMissingError(
    `blob fs:${ref.ref} is missing from staging dir ${dir} (removed, swept, or staged on another host's disk)`,
    { cause: err },
  );
}
