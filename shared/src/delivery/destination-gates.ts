/**
 * The two things that stop a destination's pulls: its breaker (the destination is failing) and
 * an operator's pause. Built once per destination worker, with what each change means for the
 * metrics, the log and the pull loops wired here, so the worker reads as the delivery's path.
 */
import type { Logger } from "pino";
import type { DestinationConfig } from "../config/config.ts";
import type { Destination } from "../destination/destination.ts";
import { describeError } from "../destination/errors.ts";
import { readDestinationPause } from "../ledger/destination-pause.ts";
import type { Ledger } from "../ledger/ledger.ts";
import { DestinationBreaker } from "./breaker.ts";
import { PauseGate } from "./pause-gate.ts";
import type { WorkerMetrics } from "./worker-metrics.ts";

/** What the gates need of the worker's dependencies. */
export interface GateDeps {
  destination: Destination;
  config: DestinationConfig;
  ledger: Ledger;
  log: Logger;
  metrics: WorkerMetrics;
  /** How often the destination's pause record is read (default PAUSE_POLL_MS). */
  pausePollMs?: number;
}

/** A destination's breaker and pause, in the order the pull loops ask them. */
export interface DestinationGates {
  readonly breaker: DestinationBreaker;
  readonly pause: PauseGate;
}

/**
 * The breaker and the pause of the destination whose ledger token is `token`. `interruptPulls`
 * is called when either closes, so the fetch under way ends and nothing more is pulled; uploads
 * in flight finish.
 */
export function destinationGates(deps: GateDeps, token: string, interruptPulls: () => void): DestinationGates {
  const destination = deps.destination.name;
  const breaker = new DestinationBreaker(
    deps.config.breaker,
    (s) => deps.destination.probe(s),
    (err) => {
      if (err) deps.log.warn({ error: describeError(err) }, "probe failed: breaker stays open");
      else deps.log.info("probe passed");
    },
  );
  breaker.on("open", () => {
    deps.log.warn({ destination }, "breaker open: pausing pulls");
    deps.metrics.breakerState.set({ destination }, 1);
    interruptPulls();
  });
  breaker.on("close", () => {
    deps.log.info({ destination }, "breaker closed: resuming");
    deps.metrics.breakerState.set({ destination }, 0);
  });

  const pause = new PauseGate({
    read: () => readDestinationPause(deps.ledger.kv, token),
    ...(deps.pausePollMs === undefined ? {} : { pollMs: deps.pausePollMs }),
    log: deps.log,
  });
  let paused = false;
  pause.on(() => {
    const current = pause.pause;
    if (paused === (current !== undefined)) return; // a renewed or re-worded pause: no news
    paused = current !== undefined;
    deps.metrics.pausedState.set({ destination }, paused ? 1 : 0);
    if (current) {
      deps.log.info({ destination, by: current.by, at: current.at, reason: current.reason }, "paused by an operator");
      interruptPulls();
    } else {
      deps.log.info({ destination }, "pause ended: resuming");
    }
  });
  return { breaker, pause };
}
