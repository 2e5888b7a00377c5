/**
 * A file writer for stream chunks that nothing else holds (an HTTP request body's): each chunk's
 * memory is released as soon as it is on its way to the file, instead of when the garbage
 * collector finds it. Node's HTTP parser hands every body chunk over in its own new 64 KiB
 * buffer, allocated outside the JS heap; a 1 GiB body is 16 384 of them, and the external memory
 * they add up to until a collection frees them is what made V8 run a full (mark-compact)
 * collection every 20-70 MB of body in the gateway: about 50 per GiB over its ~20 MB heap, most
 * of the gateway's CPU beyond a bare server's (bench/RESULTS.md, "where the time goes").
 */
import type { FileHandle } from "node:fs/promises";
import { Writable } from "node:stream";

/**
 * Frees `chunk`'s memory now, when the chunk is the whole of its own ArrayBuffer: detached (by
 * `transfer(0)`), the buffer is empty, and its bytes go back to the allocator at once. A chunk
 * that is a view into a larger buffer is left alone: other views may share it.
 */
export function releaseChunk(chunk: Buffer): void {
  const buffer = chunk.buffer as ArrayBuffer;
  // A slice of Node's shared pool (small Buffer.from and allocUnsafe results) never spans it whole.
  if (chunk.byteOffset !== 0 || chunk.byteLength !== buffer.byteLength) return;
  if (!(buffer instanceof ArrayBuffer) || buffer.detached) return;
  buffer.transfer(0);
}

/**
 * Writes chunks to `file` at its current position (batched: the chunks that queue while one
 * write runs go out in the next), releasing each chunk once written (releaseChunk). Only for a
 * source whose chunks nobody reads after they were written. Closes `file` when it finishes or
 * is destroyed.
 */
export function releasingFileWriter(file: FileHandle, highWaterMark: number): Writable {
  return new Writable({
    highWaterMark,
    writev(chunks, done) {
      writeAll(
        file,
        chunks.map((c) => c.chunk as Buffer),
      ).then(() => done(), done);
    },
    final(done) {
      file.close().then(() => done(), done);
    },
    destroy(err, done) {
      // After final() the handle is closed already; closing again only rejects.
      file.close().then(
        () => done(err),
        () => done(err),
      );
    },
  });
}

/** writev until every byte is written (a regular file may take fewer bytes than given), then releases the chunks. */
async function writeAll(file: FileHandle, chunks: Buffer[]): Promise<void> {
  let pending = chunks;
  for (;;) {
    const { bytesWritten } = await file.writev(pending);
    let left = bytesWritten;
    let i = 0;
    while (i < pending.length && left >= pending[i]!.byteLength) left -= pending[i++]!.byteLength;
    if (i === pending.length) break;
    pending = [pending[i]!.subarray(left), ...pending.slice(i + 1)];
  }
  for (const chunk of chunks) releaseChunk(chunk);
}
