/** Retry delays: exponential with jitter, capped. Pure, so it is tested without clocks. */
import type { BackoffConfig } from "../config/config.ts";

/**
 * Delay before delivery `attempt + 1`, given that `attempt` (1-based) just failed.
 * `random` is injectable for tests; jitter takes up to `jitter` of the delay away, never adds,
 * so the cap holds and synchronized failures spread out.
 */
export function backoffDelay(attempt: number, cfg: BackoffConfig, random: () => number = Math.random): number {
  const exp = cfg.initialMs * cfg.multiplier ** Math.max(0, attempt - 1);
  const capped = Math.min(cfg.maxMs, exp);
  return Math.round(capped * (1 - cfg.jitter * random()));
}

/** A server-given wait (Retry-After) wins when it is longer, still bounded by the cap. */
export function retryDelay(attempt: number, cfg: BackoffConfig, retryAfterMs?: number): number {
  const computed = backoffDelay(attempt, cfg);
  return retryAfterMs === undefined ? computed : Math.min(cfg.maxMs, Math.max(computed, retryAfterMs));
}
