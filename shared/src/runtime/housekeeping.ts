/**
 * Housekeeping an uploader runs on timers: orphaned blobs, and partial remote state that
 * crashed uploaders left at destinations.
 */
import type { Logger } from "pino";
import type { BlobStores } from "../blob/mod.ts";
import type { DestinationConfig } from "../config.ts";
import type { Destination } from "./destination.ts";
import { describeError } from "./errors.ts";

/**
 * Removes orphaned blobs: staged bytes whose event never made it (publish failed after staging,
 * a trainer crashed mid-stage), dead events' blobs kept for a replay, or a missed release.
 * Nothing older than the stream's max age can be referenced by a live event any more.
 */
export function startBlobSweeper(blobs: BlobStores, maxAgeMs: number, log: Logger): () => void {
  return every(Math.min(3_600_000, Math.max(60_000, Math.floor(maxAgeMs / 10))), async () => {
    for (const kind of blobs.kinds) {
      try {
        const removed = await blobs.get(kind).sweep(maxAgeMs);
        if (removed > 0) log.info({ store: kind, removed }, "swept orphaned blobs");
      } catch (err) {
        log.warn({ store: kind, err: describeError(err) }, "blob sweep failed");
      }
    }
  });
}

/**
 * Runs each destination's `cleanup` hourly: partial remote state of crashed uploaders older
 * than twice the upload timeout cannot belong to a live attempt.
 */
export function startDestinationCleanup(
  destinations: { destination: Destination; config: DestinationConfig }[],
  log: Logger,
): () => void {
  const ac = new AbortController();
  const stop = every(3_600_000, async () => {
    for (const { destination, config } of destinations) {
      if (!destination.cleanup) continue;
      try {
        const removed = await destination.cleanup(config.uploadTimeoutMs * 2, ac.signal);
        if (removed > 0) log.info({ destination: destination.name, removed }, "cleaned up abandoned partial uploads");
      } catch (err) {
        log.warn({ destination: destination.name, err: describeError(err) }, "destination cleanup failed");
      }
    }
  });
  return () => {
    ac.abort();
    stop();
  };
}

/** Runs `task` now and every `ms`, never two at once; returns the stop function. */
function every(ms: number, task: () => Promise<void>): () => void {
  let running = false;
  const run = () => {
    if (running) return;
    running = true;
    task().finally(() => {
      running = false;
    });
  };
  const timer = setInterval(run, ms);
  timer.unref();
  run();
  return () => clearInterval(timer);
}
