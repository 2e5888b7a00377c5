/**
 * Housekeeping an uploader runs on timers: orphaned blobs, and partial remote state that
 * crashed uploaders left at destinations.
 */
import type { Logger } from "pino";
import type { BlobStores, SweepGuard } from "../blob/mod.ts";
import type { DestinationConfig } from "../config/config.ts";
import type { Retention } from "../config/retention.ts";
import type { Destination } from "../destination/destination.ts";
import { describeError } from "../destination/errors.ts";

/**
 * Removes blobs nobody needs any more: staged bytes whose event never made it (publish failed
 * after staging, a trainer crashed mid-stage), a missed release, and dead events' blobs once
 * their letters expired. Nothing older than the events' max age can belong to a live event;
 * `keep` holds the blobs that dead letters (or replays in flight) still need. Runs at start and
 * then every tenth of the events' max age (between a minute and an hour).
 */
export function startBlobSweeper(blobs: BlobStores, retention: Retention, keep: SweepGuard, log: Logger): () => void {
  const { eventsMs } = retention;
  return every(Math.min(3_600_000, Math.max(60_000, Math.floor(eventsMs / 10))), async () => {
    for (const kind of blobs.kinds) {
      try {
        const removed = await blobs.get(kind).sweep(eventsMs, keep);
        if (removed > 0) log.info({ store: kind, removed }, "swept orphaned blobs");
        else log.debug({ store: kind }, "blob sweep done");
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
