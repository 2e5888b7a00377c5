/**
 * The worker side of sha256-thread.ts: one incremental sha256 per session id, fed in order
 * (worker messages keep their order), each from a slot of the shared arena that is handed back once
 * hashed, so the sender can fill it again.
 */
import { createHash, type Hash } from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";

type Request = { id: number; op: "update"; slot: number; length: number } | { id: number; op: "digest" | "drop" };

const { arena, slotBytes } = workerData as { arena: SharedArrayBuffer; slotBytes: number };
const sessions = new Map<number, Hash>();
const port = parentPort;
if (!port) throw new Error("sha256-thread-worker.ts runs only as a worker thread");

port.on("message", (m: Request) => {
  if (m.op === "update") {
    let hash = sessions.get(m.id);
    if (!hash) {
      hash = createHash("sha256");
      sessions.set(m.id, hash);
    }
    hash.update(new Uint8Array(arena, m.slot * slotBytes, m.length));
    port.postMessage({ id: m.id, op: "ack", slot: m.slot });
    return;
  }
  const hash = sessions.get(m.id);
  sessions.delete(m.id);
  if (m.op === "digest")
    port.postMessage({ id: m.id, op: "digest", hex: (hash ?? createHash("sha256")).digest("hex") });
});
