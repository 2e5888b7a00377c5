/**
 * Reading small files whole with synchronous calls, into one buffer, never past a bound: a file
 * longer than expected is noticed by its extra byte without being read to its end.
 *
 * Why synchronous: Each asynchronous fs call is a round trip through libuv's
 * thread pool (thread wake-ups, locks), and for a 4 KiB artifact those round trips cost far more
 * CPU than the bytes: a dozen asynchronous calls took several times the CPU of a few
 * synchronous ones on the benchmark machine. Blocking the event loop
 * for a read or a write of at most SMALL_FILE_BYTES is cheaper than those round trips on any disk.
 */
import { hash } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { Digest } from "./hash.ts";

/** Files up to this size are read and written with synchronous calls. */
export const SMALL_FILE_BYTES = 64 * 1024;

/** Reads at most `maxBytes` of a file (small ones: see SMALL_FILE_BYTES) into one buffer. */
export function readHeadSync(path: string, maxBytes: number): Buffer {
  const fd = openSync(path, "r");
  try {
    return readOpenHeadSync(fd, fstatSync(fd).size, maxBytes);
  } finally {
    closeSync(fd);
  }
}

/** readHeadSync on an open file whose size fstat gave as `size`. */
function readOpenHeadSync(fd: number, size: number, maxBytes: number): Buffer {
  let buf = Buffer.allocUnsafe(Math.min(maxBytes, size + 1));
  let filled = 0;
  for (;;) {
    if (filled === buf.length) {
      if (buf.length === maxBytes) return buf;
      // The file grew since fstat: make room up to the bound.
      const bigger = Buffer.allocUnsafe(Math.min(maxBytes, buf.length * 2));
      buf.copy(bigger);
      buf = bigger;
    }
    const n = readSync(fd, buf, filled, buf.length - filled, null);
    if (n === 0) return buf.subarray(0, filled);
    filled += n;
  }
}

/**
 * The whole content of `path` if it holds at most SMALL_FILE_BYTES, else undefined: the caller
 * then stages it the streaming way.
 */
export function readSmallFileSync(path: string): Buffer | undefined {
  const fd = openSync(path, "r");
  try {
    // A large file is not read at all here: only opened and measured.
    const size = fstatSync(fd).size;
    if (size > SMALL_FILE_BYTES) return undefined;
    const bytes = readOpenHeadSync(fd, size, SMALL_FILE_BYTES + 1);
    return bytes.length > SMALL_FILE_BYTES ? undefined : bytes;
  } finally {
    closeSync(fd);
  }
}

/** sha256 and size of bytes held in memory. */
export function digestOf(bytes: Uint8Array): Digest {
  return { sha256: hash("sha256", bytes, "hex"), size: bytes.byteLength };
}
