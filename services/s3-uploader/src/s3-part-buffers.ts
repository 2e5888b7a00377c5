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
 * How many buffers of `partSize` a whole PUT of up to `cutoff` bytes takes: none below one part
 * (such blobs are read into a buffer of their own).
 */
export function buffersForCutoff(cutoff: number, partSize: number): number {
  return cutoff < partSize ? 0 : Math.ceil(cutoff / partSize);
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
  /** Buffers at most, allocated as needed. */
  readonly limit: number;
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

  private manyQueue: Promise<void> = Promise.resolve();

  /**
   * `count` buffers at once (a whole PUT's), once all are free. One such taker at a time, so two
   * never each hold part of what the other waits for; the takers of single buffers (parts) give
   * theirs back when their request is over, so the count is always reached. A count past the
   * limit would wait forever: refused (the options size the pool from the cutoff, so it is a bug).
   */
  async takeMany(count: number, signal: AbortSignal): Promise<Buffer[]> {
    if (count > this.limit) throw new RangeError(`${count} part buffers asked at once; the pool holds ${this.limit}`);
    const prev = this.manyQueue;
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    // The next taker waits for this one and every one before it, even when this one gives up early.
    this.manyQueue = prev.then(() => mine);
    const got: Buffer[] = [];
    try {
      await untilAborted(prev, signal);
      for (let i = 0; i < count; i++) got.push(await this.take(signal));
      return got;
    } catch (err) {
      for (const b of got) this.give(b);
      throw err;
    } finally {
      release();
    }
  }

  /** Returns a buffer no request holds any more. */
  give(buf: Buffer): void {
    this.idle.push(buf);
    this.waiting.shift()?.();
  }
}

/** `p`, or the signal's reason as soon as it aborts. */
function untilAborted(p: Promise<void>, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    void p.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}
