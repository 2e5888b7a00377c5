/**
 * sha256 of staged files on worker threads, so a trainer's event loop (or the gateway's) never
 * spends time on the bytes. node:crypto's streaming hash runs on the thread that calls update();
 * libuv's thread pool only hashes whole buffers (WebCrypto digest), which for a file means
 * holding all of it in memory. A worker thread is the one place a file can be hashed in chunks
 * off the event loop. (Hashing 1 GiB: 0.75 s on a worker, 0.73-0.97 s on the event loop.)
 *
 * Workers start on first use (or on {@link HashPool.warm}), at most one per core up to 4, one
 * job each at a time; an idle worker does not keep the process alive, a busy one does.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { Digest } from "./hash.ts";
import type { HashJob, HashResult } from "./hash-worker.ts";

interface Job {
  seq: number;
  path: string;
  /** Told the bytes hashed so far, once per chunk. */
  onProgress?: ((bytesDone: number) => void) | undefined;
  resolve(digest: Digest): void;
  reject(err: Error): void;
}

const WORKER_URL = new URL("./hash-worker.ts", import.meta.url);

export class HashPool {
  private readonly maxWorkers: number;
  private readonly idle: Worker[] = [];
  private readonly running = new Map<Worker, Job>();
  private readonly queue: Job[] = [];
  private workers = 0;
  private seq = 0;

  constructor(maxWorkers = Math.max(1, Math.min(4, availableParallelism()))) {
    this.maxWorkers = maxWorkers;
  }

  /** sha256 and size of the file at `path`, read once; `onProgress` is told the bytes hashed so far. */
  hashFile(path: string, onProgress?: (bytesDone: number) => void): Promise<Digest> {
    return new Promise((resolve, reject) => {
      this.queue.push({ seq: ++this.seq, path, onProgress, resolve, reject });
      this.dispatch();
    });
  }

  /** Starts a worker now, so that the first job does not wait for a thread to start (0.1-0.3 s). */
  warm(): void {
    if (this.workers === 0) this.idle.push(this.spawn());
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const worker = this.idle.pop() ?? (this.workers < this.maxWorkers ? this.spawn() : undefined);
      if (!worker) return;
      const job = this.queue.shift()!;
      this.running.set(worker, job);
      worker.ref();
      worker.postMessage({ seq: job.seq, path: job.path } satisfies HashJob);
    }
  }

  private spawn(): Worker {
    // No flags of the parent's: some (--input-type, --eval's) make a worker fail to start.
    const worker = new Worker(WORKER_URL, { name: "artifact-bus-hash", execArgv: [] });
    this.workers++;
    worker.on("message", (result: HashResult) => {
      const job = this.running.get(worker);
      if (!job || job.seq !== result.seq) return;
      if ("progress" in result) {
        job.onProgress?.(result.progress);
        return;
      }
      this.running.delete(worker);
      worker.unref();
      this.idle.push(worker);
      if ("error" in result) job.reject(Object.assign(new Error(result.error.message), result.error));
      else job.resolve({ sha256: result.sha256, size: result.size });
      this.dispatch();
    });
    // A worker that dies (out of memory, a bug) fails its job, not the process; the next job
    // starts a new one.
    let gone = false;
    const lost = (err: Error) => {
      if (gone) return; // 'error' is followed by 'exit'
      gone = true;
      this.workers--;
      const i = this.idle.indexOf(worker);
      if (i >= 0) this.idle.splice(i, 1);
      const job = this.running.get(worker);
      this.running.delete(worker);
      job?.reject(new Error(`the hashing thread failed: ${err.message}`, { cause: err }));
      this.dispatch();
    };
    worker.on("error", lost);
    worker.on("exit", (code) => lost(new Error(`exited with code ${code}`)));
    // After the listeners: adding a 'message' listener refs the worker again.
    worker.unref();
    return worker;
  }
}

/** The process's pool: every blob store in a process shares its threads. */
export const hashPool = new HashPool();
