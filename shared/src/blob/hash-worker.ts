/**
 * The hashing thread's entry point (see hash-pool.ts): each job hashes one file, read once in
 * 4 MiB chunks. The reads run on libuv's thread pool while this thread hashes the previous chunk.
 */
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { parentPort } from "node:worker_threads";

/** A job as the pool sends it. */
export interface HashJob {
  seq: number;
  path: string;
}

/** The answer to job `seq`; `progress` messages come before it, one per chunk hashed. */
export type HashResult =
  | { seq: number; sha256: string; size: number }
  | { seq: number; error: { message: string; code?: string; name: string } }
  | { seq: number; progress: number };

// Larger reads mean fewer thread pool round trips; hashing 1 GiB took 0.75 s with 4 MiB reads
// and about the same with 16 MiB, 0.93 s with 1 MiB.
const CHUNK_BYTES = 4 << 20;

async function hashFile(seq: number, path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  const file = await open(path, "r");
  try {
    const buffers = [Buffer.allocUnsafe(CHUNK_BYTES), Buffer.allocUnsafe(CHUNK_BYTES)];
    let current = 0;
    let reading = file.read(buffers[0]!, 0, CHUNK_BYTES, null);
    for (;;) {
      const { bytesRead, buffer } = await reading;
      if (bytesRead === 0) break;
      size += bytesRead;
      current ^= 1;
      // The next read fills the other buffer while this one is hashed.
      reading = file.read(buffers[current]!, 0, CHUNK_BYTES, null);
      hash.update(buffer.subarray(0, bytesRead));
      parentPort?.postMessage({ seq, progress: size } satisfies HashResult);
    }
  } finally {
    await file.close();
  }
  return { sha256: hash.digest("hex"), size };
}

parentPort?.on("message", (job: HashJob) => {
  hashFile(job.seq, job.path).then(
    (digest) => parentPort?.postMessage({ seq: job.seq, ...digest } satisfies HashResult),
    (err: NodeJS.ErrnoException) =>
      parentPort?.postMessage({
        seq: job.seq,
        error: { message: err.message, name: err.name, ...(err.code ? { code: err.code } : {}) },
      } satisfies HashResult),
  );
});
