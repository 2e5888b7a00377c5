/**
 * Pull reads of a blob into buffers the caller owns. A consumer that reuses its buffers (the S3
 * multipart loop: one buffer per part in flight) then allocates nothing per byte. Streamed
 * chunks, and parts assembled from them, are garbage that V8 frees late: they are what took
 * the S3 uploader past its RSS target during a large upload, holding twice the buffers its
 * parts need.
 */
import type { FileHandle } from "node:fs/promises";
import type { Readable } from "node:stream";

export interface BlobReader {
  /** Fills `buf` from the current position; returns fewer bytes than `buf.length` only at the end. */
  fill(buf: Uint8Array): Promise<number>;
  /** Releases the file or stream; safe to call more than once. */
  close(): Promise<void>;
}

/**
 * Everything the reader gives up to `maxBytes`, in one buffer of that size, then closes it. With
 * one byte more than expected as the bound, a blob longer than it should be shows without being
 * read to its end.
 */
export async function readWhole(reader: BlobReader, maxBytes: number): Promise<Buffer> {
  try {
    const buf = Buffer.allocUnsafe(maxBytes);
    return buf.subarray(0, await reader.fill(buf));
  } finally {
    await reader.close();
  }
}

/** Reads an open file, which the reader then owns. */
export function fileReader(file: FileHandle): BlobReader {
  let closed = false;
  return {
    async fill(buf) {
      let filled = 0;
      while (filled < buf.length) {
        const { bytesRead } = await file.read(buf, filled, buf.length - filled, null);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled;
    },
    async close() {
      if (closed) return;
      closed = true;
      await file.close();
    },
  };
}

/** Reads a stream, copying its chunks into the caller's buffers; errors of the stream surface in fill(). */
export function streamReader(source: Readable): BlobReader {
  const chunks = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  let rest: Buffer = Buffer.alloc(0);
  let ended = false;
  return {
    async fill(buf) {
      let filled = 0;
      while (filled < buf.length) {
        if (rest.length === 0) {
          if (ended) break;
          const next = await chunks.next();
          if (next.done) {
            ended = true;
            break;
          }
          rest = next.value;
          continue;
        }
        const n = Math.min(rest.length, buf.length - filled);
        buf.set(rest.subarray(0, n), filled);
        rest = rest.subarray(n);
        filled += n;
      }
      return filled;
    },
    async close() {
      source.destroy();
    },
  };
}
