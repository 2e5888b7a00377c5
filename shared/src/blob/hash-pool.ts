/**
 * sha256 on worker threads, so an event loop (a trainer's, an uploader's) never spends time on
 * the bytes: files hashed by path (staging), and streams fed chunk by chunk (an upload checking
 * the bytes it sends). node:crypto's streaming hash runs on the thread that calls update();
 * libuv's thread pool only hashes whole buffers (WebCrypto digest), which for a file means
 * holding all of it in memory: a worker thread is the one place a file can be hashed in chunks
 * off the event loop, and it hashes as fast as the event loop would.
 *
 * Threads start on first use, at most one per core up to 4. A file job has a thread to itself;
 * every stream goes to the first thread, between the reads of its file job if it has one. A
 * thread keeps the process alive only while it has work; one that dies (out of memory, a bug)
 * fails its work, not the process, and the next job starts a new one.
 *
 * Stream chunks are copied once into slots of memory shared with the thread (a memcpy, a
 * fraction of the hash's cost), and a message names a slot once it is full: fresh buffers per
 * chunk cost as much as the hash in page faults, shared buffers sent per message as much in
 * garbage collection, and a message per 1 MiB chunk half as much again on a busy machine.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { Digest } from "./hash.ts";
import type { HashReply, HashRequest } from "./hash-worker.ts";

/** Bytes per slot: a stream's chunks are gathered until one is full. */
const SLOT_BYTES = 2 << 20;
/** Slots in all, shared by the streams (32 MiB, touched only as used). */
const SLOTS = 16;
/** Slots one stream may hold (the one it fills, the ones being hashed); past this it waits. */
const SLOTS_PER_STREAM = 3;

interface FileJob {
  seq: number;
  path: string;
  /** Told the bytes hashed so far, once per chunk. */
  onProgress?: ((bytesDone: number) => void) | undefined;
  resolve(digest: Digest): void;
  reject(err: Error): void;
}

interface Stream {
  held: number;
  wake?: (() => void) | undefined;
  digest?: { resolve(hex: string): void; reject(err: Error): void };
  failure?: Error;
}

interface Thread {
  worker: Worker;
  job?: FileJob | undefined;
  streams: Map<number, Stream>;
  /** The arena's slots, once the thread hashes streams. */
  arena?: { bytes: Uint8Array; free: number[] };
}

/** A thread that hashes streams: it has the arena. */
type StreamThread = Thread & { arena: NonNullable<Thread["arena"]> };

const WORKER_URL = new URL("./hash-worker.ts", import.meta.url);

export class HashPool {
  private readonly maxThreads: number;
  private readonly threads: Thread[] = [];
  private readonly queue: FileJob[] = [];
  private seq = 0;

  constructor(maxThreads = Math.max(1, Math.min(4, availableParallelism()))) {
    this.maxThreads = maxThreads;
  }

  /** sha256 and size of the file at `path`, read once; `onProgress` is told the bytes hashed so far. */
  hashFile(path: string, onProgress?: (bytesDone: number) => void): Promise<Digest> {
    return new Promise((resolve, reject) => {
      this.queue.push({ seq: ++this.seq, path, onProgress, resolve, reject });
      this.dispatch();
    });
  }

  /** An incremental sha256 computed on a hashing thread. */
  stream(): ThreadSha256 {
    const t = this.threads[0] ?? this.spawn();
    if (!t.arena) {
      const bytes = new SharedArrayBuffer(SLOT_BYTES * SLOTS);
      t.worker.postMessage({ op: "arena", arena: bytes, slotBytes: SLOT_BYTES } satisfies HashRequest);
      t.arena = { bytes: new Uint8Array(bytes), free: Array.from({ length: SLOTS }, (_, i) => i) };
    }
    const id = ++this.seq;
    const stream: Stream = { held: 0 };
    t.streams.set(id, stream);
    this.refresh(t);
    return new ThreadSha256(t as StreamThread, id, stream, () => this.endStream(t, id));
  }

  private endStream(t: Thread, id: number): void {
    t.streams.delete(id);
    this.refresh(t);
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const t = this.threads.find((x) => !x.job) ?? (this.threads.length < this.maxThreads ? this.spawn() : undefined);
      if (!t) return;
      const job = this.queue.shift() as FileJob;
      t.job = job;
      this.refresh(t);
      t.worker.postMessage({ op: "file", seq: job.seq, path: job.path } satisfies HashRequest);
    }
  }

  /** A thread holds the process open only while it has work. */
  private refresh(t: Thread): void {
    if (t.job || t.streams.size > 0) t.worker.ref();
    else t.worker.unref();
  }

  private spawn(): Thread {
    // No flags of the parent's: some (--input-type, --eval's) make a worker fail to start. It
    // allocates little besides message objects: a small young generation keeps its RSS small.
    const worker = new Worker(WORKER_URL, {
      name: "artifact-bus-hash",
      execArgv: [],
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
    const t: Thread = { worker, streams: new Map() };
    this.threads.push(t);
    worker.on("message", (m: HashReply) => this.answer(t, m));
    let gone = false;
    const lost = (err: Error) => {
      if (gone) return; // 'error' is followed by 'exit'
      gone = true;
      this.threads.splice(this.threads.indexOf(t), 1);
      const failure = new Error(`the hashing thread failed: ${err.message}`, { cause: err });
      t.job?.reject(failure);
      for (const s of t.streams.values()) {
        s.failure = failure;
        wake(s);
        s.digest?.reject(failure);
      }
      t.streams.clear();
      this.dispatch();
    };
    worker.on("error", lost);
    worker.on("exit", (code) => lost(new Error(`exited with code ${code}`)));
    // After the listeners: adding a 'message' listener refs the worker again.
    worker.unref();
    return t;
  }

  private answer(t: Thread, m: HashReply): void {
    switch (m.op) {
      case "progress":
        if (t.job?.seq === m.seq) t.job.onProgress?.(m.bytesDone);
        return;
      case "file":
      case "fileError": {
        const job = t.job;
        if (job?.seq !== m.seq) return;
        t.job = undefined;
        this.refresh(t);
        if (m.op === "file") job.resolve({ sha256: m.sha256, size: m.size });
        else job.reject(Object.assign(new Error(m.error.message), m.error));
        this.dispatch();
        return;
      }
      case "ack": {
        t.arena?.free.push(m.slot);
        const s = t.streams.get(m.id);
        if (s) s.held--;
        // Any stream may be waiting for a slot, not only this one.
        for (const other of t.streams.values()) wake(other);
        return;
      }
      case "digest": {
        const s = t.streams.get(m.id);
        this.endStream(t, m.id);
        s?.digest?.resolve(m.hex);
      }
    }
  }
}

function wake(s: Stream): void {
  const w = s.wake;
  s.wake = undefined;
  w?.();
}

/** An incremental sha256 computed off the calling thread (HashPool.stream). */
export class ThreadSha256 {
  private finished = false;
  /** The slot being filled, and how far. */
  private current: number | undefined;
  private filled = 0;

  private readonly thread: StreamThread;
  private readonly id: number;
  private readonly stream: Stream;
  private readonly end: () => void;

  /** @internal Made by HashPool.stream(). */
  constructor(thread: StreamThread, id: number, stream: Stream, end: () => void) {
    this.thread = thread;
    this.id = id;
    this.stream = stream;
    this.end = end;
  }

  /** Copies `chunk` for the hash; waits only while this stream holds too many unhashed slots. */
  async update(chunk: Uint8Array): Promise<void> {
    if (this.finished) throw new Error("ThreadSha256: update after digest");
    for (let offset = 0; offset < chunk.byteLength; ) {
      if (this.current === undefined) {
        this.current = await this.slot();
        this.filled = 0;
      }
      const piece = chunk.subarray(offset, offset + SLOT_BYTES - this.filled);
      this.thread.arena.bytes.set(piece, this.current * SLOT_BYTES + this.filled);
      this.filled += piece.byteLength;
      offset += piece.byteLength;
      if (this.filled === SLOT_BYTES) this.send();
    }
  }

  private send(): void {
    if (this.current === undefined) return;
    const request: HashRequest = { op: "update", id: this.id, slot: this.current, length: this.filled };
    this.thread.worker.postMessage(request);
    this.current = undefined;
  }

  private async slot(): Promise<number> {
    const s = this.stream;
    for (;;) {
      if (s.failure) throw s.failure;
      if (s.held < SLOTS_PER_STREAM) {
        const slot = this.thread.arena.free.pop();
        if (slot !== undefined) {
          s.held++;
          return slot;
        }
      }
      await new Promise<void>((r) => {
        s.wake = r;
      });
    }
  }

  /** The lowercase hex digest of everything passed to `update`; call once. */
  digest(): Promise<string> {
    if (this.stream.failure) return Promise.reject(this.stream.failure);
    this.finished = true;
    this.send();
    return new Promise<string>((resolve, reject) => {
      this.stream.digest = { resolve, reject };
      this.thread.worker.postMessage({ op: "digest", id: this.id } satisfies HashRequest);
    });
  }

  /** Forgets the stream without a digest (an upload that stopped early). */
  dispose(): void {
    if (!this.thread.streams.has(this.id)) return; // digested, or its thread failed
    this.finished = true;
    this.send(); // hands the slot back through the worker, which ignores the dropped stream's bytes
    this.thread.worker.postMessage({ op: "drop", id: this.id } satisfies HashRequest);
    this.end();
  }
}

/** The process's pool: every blob store and upload in a process shares its threads. */
export const hashPool = new HashPool();
