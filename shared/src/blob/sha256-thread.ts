/**
 * sha256 on a worker thread, fed chunk by chunk. Hashing a GiB takes the event loop about 0.7 s
 * here; the SFTP uploader's loop also encrypts every byte, so hashing there made uploads slower
 * by as much. Chunks are copied once into slots of memory shared with the worker (a memcpy, a
 * fraction of the hash's cost), and a message names a slot once it is full: fresh buffers per
 * chunk cost as much as the hash in page faults, shared buffers sent per message as much in
 * garbage collection, and a message per 1 MiB chunk half as much again on a busy machine. The caller may reuse its buffer as soon as `update` returns, and the digest is of
 * exactly the bytes that were passed in, whatever happens to the buffer later.
 *
 * One worker serves every session of the process, started on first use; it keeps the process
 * alive only while a session is open.
 */
import { Worker } from "node:worker_threads";

/** Bytes per slot: chunks are gathered until one is full. */
const SLOT_BYTES = 2 << 20;
/** Slots in all, shared by the sessions (32 MiB, touched only as used). */
const SLOTS = 16;
/** Slots one session may hold (the one it fills, the ones being hashed); past this it waits. */
const SLOTS_PER_SESSION = 3;

type Reply = { id: number; op: "ack"; slot: number } | { id: number; op: "digest"; hex: string };

interface Session {
  held: number;
  wake?: () => void;
  digest?: { resolve(hex: string): void; reject(err: Error): void };
  failure?: Error;
}

interface HashThread {
  worker: Worker;
  arena: Uint8Array;
  free: number[];
}

let thread: HashThread | undefined;
const sessions = new Map<number, Session>();
let nextId = 1;

function hashThread(): HashThread {
  if (thread) return thread;
  const arena = new SharedArrayBuffer(SLOT_BYTES * SLOTS);
  const worker = new Worker(new URL("./sha256-thread-worker.ts", import.meta.url), {
    workerData: { arena, slotBytes: SLOT_BYTES },
    // It allocates little besides message objects: a small young generation keeps its RSS small.
    resourceLimits: { maxYoungGenerationSizeMb: 4 },
  });
  const t: HashThread = { worker, arena: new Uint8Array(arena), free: Array.from({ length: SLOTS }, (_, i) => i) };
  worker.on("message", (m: Reply) => {
    const s = sessions.get(m.id);
    if (m.op === "ack") {
      t.free.push(m.slot);
      if (s) s.held--;
      // Any session may be waiting for a slot, not only this one.
      for (const other of sessions.values()) wake(other);
    } else if (s) {
      end(m.id);
      s.digest?.resolve(m.hex);
    }
  });
  const fail = (err: Error) => {
    if (thread === t) thread = undefined;
    for (const [id, s] of sessions) {
      s.failure = new Error(`sha256 worker thread failed: ${err.message}`, { cause: err });
      wake(s);
      s.digest?.reject(s.failure);
      end(id);
    }
  };
  worker.on("error", fail);
  worker.on("exit", (code) => fail(new Error(`exited with code ${code}`)));
  worker.unref();
  thread = t;
  return t;
}

function wake(s: Session): void {
  const w = s.wake;
  s.wake = undefined;
  w?.();
}

function end(id: number): void {
  sessions.delete(id);
  if (sessions.size === 0) thread?.worker.unref();
}

/** An incremental sha256 computed off the calling thread. */
export class ThreadSha256 {
  private readonly id = nextId++;
  private readonly session: Session = { held: 0 };
  private readonly thread: HashThread;
  private finished = false;
  /** The slot being filled, and how far. */
  private current: number | undefined;
  private filled = 0;

  constructor() {
    this.thread = hashThread();
    if (sessions.size === 0) this.thread.worker.ref();
    sessions.set(this.id, this.session);
  }

  /** Copies `chunk` for the hash; waits only while this session holds too many unhashed slots. */
  async update(chunk: Uint8Array): Promise<void> {
    if (this.finished) throw new Error("ThreadSha256: update after digest");
    for (let offset = 0; offset < chunk.byteLength; ) {
      if (this.current === undefined) {
        this.current = await this.slot();
        this.filled = 0;
      }
      const piece = chunk.subarray(offset, offset + SLOT_BYTES - this.filled);
      this.thread.arena.set(piece, this.current * SLOT_BYTES + this.filled);
      this.filled += piece.byteLength;
      offset += piece.byteLength;
      if (this.filled === SLOT_BYTES) this.send();
    }
  }

  private send(): void {
    if (this.current === undefined) return;
    this.thread.worker.postMessage({ id: this.id, op: "update", slot: this.current, length: this.filled });
    this.current = undefined;
  }

  private async slot(): Promise<number> {
    const s = this.session;
    for (;;) {
      if (s.failure) throw s.failure;
      if (s.held < SLOTS_PER_SESSION) {
        const slot = this.thread.free.pop();
        if (slot !== undefined) {
          s.held++;
          return slot;
        }
      }
      await new Promise<void>((r) => (s.wake = r));
    }
  }

  /** The lowercase hex digest of everything passed to `update`; call once. */
  digest(): Promise<string> {
    if (this.session.failure) return Promise.reject(this.session.failure);
    this.finished = true;
    this.send();
    return new Promise<string>((resolve, reject) => {
      this.session.digest = { resolve, reject };
      this.thread.worker.postMessage({ id: this.id, op: "digest" });
    });
  }

  /** Forgets the session without a digest (an upload that stopped early). */
  dispose(): void {
    if (!sessions.has(this.id)) return;
    this.finished = true;
    this.send(); // hands the slot back through the worker, which ignores the dropped session's bytes
    this.thread.worker.postMessage({ id: this.id, op: "drop" });
    end(this.id);
  }
}
