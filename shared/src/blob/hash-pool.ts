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
import type { HashMessage, HashResult } from "./hash-worker.ts";

/** A file being hashed while something writes it: say when the writing ended, or failed. */
export interface FollowedHash {
  /** The sha256 and size of the whole file, once {@link end} was called; rejects after {@link cancel}. */
  digest: Promise<Digest>;
  /** The writer finished: the hash reads on to the end of the file. */
  end(): void;
  /** The writer failed: the hash stops and `digest` rejects. */
  cancel(): void;
}

interface Job {
  seq: number;
  op: "hash" | "follow";
  path: string;
  /** Told the bytes hashed so far, once per chunk. */
  onProgress?: ((bytesDone: number) => void) | undefined;
  /** For `follow`: the writer's outcome, once known, sent to the worker once it runs the job. */
  outcome?: "end" | "cancel";
  worker?: Worker;
  settled?: boolean;
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
    return this.submit("hash", path, onProgress).digest;
  }

  /**
   * Hashes the file at `path` while another party creates it and appends to it, reading right
   * behind the writer; the digest covers the whole file once the writer calls `end`.
   */
  followFile(path: string): FollowedHash {
    const job = this.submit("follow", path);
    const tell = (outcome: "end" | "cancel") => {
      if (job.job.outcome || job.job.settled) return;
      job.job.outcome = outcome;
      job.job.worker?.postMessage({ seq: job.job.seq, op: outcome } satisfies HashMessage);
    };
    return { digest: job.digest, end: () => tell("end"), cancel: () => tell("cancel") };
  }

  /** Starts a worker now, so that the first job does not wait for a thread to start (0.1-0.3 s). */
  warm(): void {
    if (this.workers === 0) this.idle.push(this.spawn());
  }

  private submit(
    op: Job["op"],
    path: string,
    onProgress?: (bytesDone: number) => void,
  ): { job: Job; digest: Promise<Digest> } {
    let job!: Job;
    const digest = new Promise<Digest>((resolve, reject) => {
      job = {
        seq: ++this.seq,
        op,
        path,
        onProgress,
        resolve: (d) => {
          job.settled = true;
          resolve(d);
        },
        reject: (e) => {
          job.settled = true;
          reject(e);
        },
      };
    });
    this.queue.push(job);
    this.dispatch();
    return { job, digest };
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const worker = this.idle.pop() ?? (this.workers < this.maxWorkers ? this.spawn() : undefined);
      if (!worker) return;
      const job = this.queue.shift()!;
      job.worker = worker;
      this.running.set(worker, job);
      worker.ref();
      worker.postMessage({ seq: job.seq, op: job.op, path: job.path } satisfies HashMessage);
      if (job.outcome) worker.postMessage({ seq: job.seq, op: job.outcome } satisfies HashMessage);
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
