/** Part sizes and the part buffers every multipart upload of a destination shares. */

/** S3's limit on the parts of one upload. */
export const MAX_PARTS = 10_000;

/**
 * The part size for a blob of `size` bytes: the configured one, or the smallest whole MiB that
 * keeps the upload within MAX_PARTS (8 MiB parts stop at 78 GiB; checkpoints can be larger).
 */
export function partSizeFor(size: number, configured: number): number {
  if (size <= configured * MAX_PARTS) return configured;
  const MiB = 1024 * 1024;
  return Math.ceil(size / MAX_PARTS / MiB) * MiB;
}

/**
 * The part buffers of every upload of a destination, at most `limit` of them at once, reused
 * from one part and one upload to the next. Allocating fresh ones per upload let glibc keep the
 * freed ones in its heap (its mmap threshold rises after the first large free), so each later
 * upload added to the RSS, though the first had fit. Sized per
 * upload instead, four large uploads at once (the default concurrency) held four times
 * (queueSize + 1) parts, 160 MiB; the shared limit keeps the total flat and lets whichever
 * upload is ready use the buffers.
 */
export class PartBuffers {
  readonly partSize: number;
  private readonly limit: number;
  private allocated = 0;
  private readonly idle: Buffer[] = [];
  private readonly waiting: (() => void)[] = [];

  constructor(partSize: number, limit: number) {
    this.partSize = partSize;
    this.limit = Math.max(1, limit);
  }

  /** A buffer of partSize, once one is free or the limit allows a new one. */
  async take(signal: AbortSignal): Promise<Buffer> {
    for (;;) {
      signal.throwIfAborted();
      const buf = this.idle.pop();
      if (buf) return buf;
      if (this.allocated < this.limit) {
        this.allocated++;
        return Buffer.allocUnsafeSlow(this.partSize);
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal.removeEventListener("abort", wake);
          // Gone from the queue either way, so a wake-up is never spent on an aborted waiter.
          const i = this.waiting.indexOf(wake);
          if (i >= 0) this.waiting.splice(i, 1);
          resolve();
        };
        this.waiting.push(wake);
        signal.addEventListener("abort", wake, { once: true });
      });
    }
  }

  /** Returns a buffer no request holds any more. */
  give(buf: Buffer): void {
    this.idle.push(buf);
    this.waiting.shift()?.();
  }
}
