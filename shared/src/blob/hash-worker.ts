/**
 * The hashing thread's entry point (see hash-pool.ts). Two kinds of work: a file hashed by path
 * (hash.ts's hashFile: read once, the next read running while a chunk is hashed), and streams:
 * one incremental sha256 per session id, fed in order (worker messages keep their order) from
 * slots of a shared arena, each slot handed back once hashed so the sender can fill it again.
 */
import { createHash, type Hash } from "node:crypto";
import { parentPort } from "node:worker_threads";
import { hashFile } from "./hash.ts";

export type HashRequest =
  | { op: "file"; seq: number; path: string }
  | { op: "arena"; arena: SharedArrayBuffer; slotBytes: number }
  | { op: "update"; id: number; slot: number; length: number }
  | { op: "digest" | "drop"; id: number };

export type HashReply =
  | { op: "file"; seq: number; sha256: string; size: number }
  | { op: "fileError"; seq: number; error: { message: string; code?: string; name: string } }
  /** One per chunk of a file job, before its answer. */
  | { op: "progress"; seq: number; bytesDone: number }
  | { op: "ack"; id: number; slot: number }
  | { op: "digest"; id: number; hex: string };

const port = parentPort;
if (!port) throw new Error("hash-worker.ts runs only as a worker thread");
const reply = (m: HashReply) => port.postMessage(m);

let arena: { bytes: SharedArrayBuffer; slotBytes: number } | undefined;
const streams = new Map<number, Hash>();

port.on("message", (m: HashRequest) => {
  switch (m.op) {
    case "file":
      hashFile(m.path, (bytesDone) => reply({ op: "progress", seq: m.seq, bytesDone })).then(
        (digest) => reply({ op: "file", seq: m.seq, ...digest }),
        (err: NodeJS.ErrnoException) =>
          reply({
            op: "fileError",
            seq: m.seq,
            error: { message: err.message, name: err.name, ...(err.code ? { code: err.code } : {}) },
          }),
      );
      return;
    case "arena":
      arena = { bytes: m.arena, slotBytes: m.slotBytes };
      return;
    case "update": {
      const a = arena as NonNullable<typeof arena>; // sent before the first update
      let hash = streams.get(m.id);
      if (!hash) {
        hash = createHash("sha256");
        streams.set(m.id, hash);
      }
      hash.update(new Uint8Array(a.bytes, m.slot * a.slotBytes, m.length));
      reply({ op: "ack", id: m.id, slot: m.slot });
      return;
    }
    default: {
      const hash = streams.get(m.id);
      streams.delete(m.id);
      if (m.op === "digest") reply({ op: "digest", id: m.id, hex: (hash ?? createHash("sha256")).digest("hex") });
    }
  }
});
