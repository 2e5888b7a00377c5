/**
 * sha256 as the blob stores (and the hashing thread) compute it: while bytes stream past, or
 * over a whole file read once. No imports beyond node's, so the hashing thread loads little.
 */
import { createHash, type Hash } from "node:crypto";
import { open } from "node:fs/promises";

/** Read size for staging I/O: large reads keep hashing near memory bandwidth. */
export const IO_CHUNK_BYTES = 1 << 20;

/**
 * The read buffer for a file of `expectedBytes`: one byte more than the file, so a small file is
 * read whole and its end seen in the next read, up to `maxBytes`. A buffer sized for large files
 * costs a small one far more in allocation and garbage collection than the read itself (a 4 KiB
 * artifact with 1 MiB buffers: about half the publisher's CPU).
 */
export function readBufferBytes(expectedBytes: number, maxBytes = IO_CHUNK_BYTES): number {
  return Math.min(maxBytes, Math.max(MIN_READ_BYTES, expectedBytes + 1));
}

const MIN_READ_BYTES = 16 * 1024;

/** What staging learns about the bytes it staged. */
export interface Digest {
  /** Lowercase hex sha256. */
  sha256: string;
  size: number;
}

/** Told the bytes hashed so far after each chunk (a progress display). */
export type ProgressListener = (bytesDone: number) => void;

/** Accumulates sha256 and size over chunks as they pass by. */
export class StreamingHash {
  private readonly hash: Hash = createHash("sha256");
  private readonly onProgress: ProgressListener | undefined;
  private bytes = 0;

  constructor(onProgress?: ProgressListener) {
    this.onProgress = onProgress;
  }

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.bytes += chunk.byteLength;
    this.onProgress?.(this.bytes);
  }

  /** Finishes the hash; call once, after the last chunk. */
  digest(): Digest {
    return { sha256: this.hash.digest("hex"), size: this.bytes };
  }
}

/**
 * Hashes a whole file with one sequential read, double-buffered: the next read runs while the
 * current chunk is hashed, so a file costs about the hash alone, less than a streamed read.
 */
export async function hashFile(path: string, onProgress?: ProgressListener): Promise<Digest> {
  const hash = new StreamingHash(onProgress);
  const file = await open(path, "r");
  try {
    // The size is a hint only: a hard-linked file can still grow, and the loop reads to the end.
    const chunk = readBufferBytes((await file.stat()).size, HASH_CHUNK_BYTES);
    const buffers = [Buffer.allocUnsafe(chunk), Buffer.allocUnsafe(chunk)];
    let current = 0;
    let reading = file.read(buffers[0]!, 0, chunk, null);
    for (;;) {
      const { bytesRead, buffer } = await reading;
      if (bytesRead === 0) break;
      current ^= 1;
      reading = file.read(buffers[current]!, 0, chunk, null);
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await file.close();
  }
  return hash.digest();
}

// Larger reads mean fewer thread pool round trips: 1 MiB reads were measurably slower, 16 MiB
// no faster than 4 MiB.
const HASH_CHUNK_BYTES = 4 << 20;
