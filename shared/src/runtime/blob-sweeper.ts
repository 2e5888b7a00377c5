/**
 * Removes orphaned blobs: staged bytes whose event never made it (publish failed after staging,
 * a trainer crashed mid-stage) or whose release was missed. Anything older than the stream's
 * max age cannot be referenced by a live event any more, so it is safe to delete.
 */
import type { Logger } from "pino";
import type { BlobStores } from "../blob/mod.ts";
import { describeError } from "./errors.ts";

export function startBlobSweeper(blobs: BlobStores, maxAgeMs: number, log: Logger): () => void {
  const every = Math.min(3_600_000, Math.max(60_000, Math.floor(maxAgeMs / 10)));
  const sweep = async () => {
    for (const kind of blobs.kinds) {
      try {
        const removed = await blobs.get(kind).sweep(maxAgeMs);
        if (removed > 0) log.info({ store: kind, removed }, "swept orphaned blobs");
      } catch (err) {
        log.warn({ store: kind, err: describeError(err) }, "blob sweep failed");
      }
    }
  };
  const timer = setInterval(() => void sweep(), every);
  timer.unref();
  void sweep();
  return () => clearInterval(timer);
}
