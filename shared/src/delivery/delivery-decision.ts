/**
 * What happens to a delivery, decided without I/O so that every rule is unit-tested: how it
 * starts, from what the ledger already says, and how it ends, from what became of its upload.
 * The worker carries the decisions out (ledger write, ack / nak(delay) / term, DLQ).
 *
 * Attempts are counted in the ledger, not by JetStream deliveries: waiting for a key, for a
 * closed breaker or for a restart redelivers a message without being an attempt, and the
 * consumer redelivers without limit, so only the runtime decides that an event is dead, always
 * with a DLQ letter and a reason.
 */
import type { BackoffConfig } from "../config/config.ts";
import { type DeadClass, isTerminal, type LedgerEntry } from "../contract/ledger-entry.ts";
import { classify, describeError, TransientError } from "../destination/errors.ts";
import { retryDelay } from "./backoff.ts";

/** How a delivery starts (decideStart). */
export type Start =
  /** Its outcome is recorded already (a lost ack, a replay that is stale or done): ack. */
  | { kind: "finished" }
  /** Recorded dead, but its DLQ letter may not be published: publish it (deduplicated), then term. */
  | { kind: "letterMissing"; entry: LedgerEntry }
  /** Its attempts ran out without an outcome (its uploaders died or lost it each time). */
  | { kind: "exhausted"; attempts: number; reason: string }
  /** Upload it: this will be attempt `priorAttempts + 1`. `revive`: a replay of a dead entry. */
  | { kind: "go"; priorAttempts: number; revive: boolean };

/**
 * How a delivery starts, from the ledger entry of its event here (read on redeliveries and
 * replays; a first delivery has none). A replay of DLQ entry `replayDlqSeq` runs only while that
 * letter records the event's latest death, so replaying twice uploads once.
 */
export function decideStart(
  prior: LedgerEntry | undefined,
  replayDlqSeq: number | undefined,
  maxDeliver: number,
): Start {
  if (replayDlqSeq !== undefined) {
    // No entry: it expired with its TTL (which outlives letters); if the blob is gone too, the
    // worker refuses the replay saying so.
    if (!prior) return { kind: "go", priorAttempts: 0, revive: false };
    if (prior.state === "dead" && prior.dlqSeq === replayDlqSeq) return { kind: "go", priorAttempts: 0, revive: true };
    if (prior.replayDlqSeq !== replayDlqSeq || isTerminal(prior.state)) return { kind: "finished" };
  } else if (isTerminal(prior?.state)) {
    return prior?.state === "dead" && prior.dlqSeq === undefined
      ? { kind: "letterMissing", entry: prior }
      : { kind: "finished" };
  }
  const attempts = prior?.attempts ?? 0;
  if (attempts >= maxDeliver) {
    const how = prior?.state === "uploading" ? "did not finish (its uploader died or lost it)" : "failed";
    return {
      kind: "exhausted",
      attempts,
      reason: `gave up after ${attempts} attempt(s); the last ${how}${prior?.error ? `: ${prior.error}` : ""}`,
    };
  }
  return { kind: "go", priorAttempts: attempts, revive: false };
}

/** What became of an upload attempt. */
export type Outcome =
  | { kind: "uploaded" }
  /**
   * The upload did not run or could not: shut down, lease lost, breaker open, or the staged
   * bytes out of reach (the bus's own store away). None is an attempt.
   */
  | { kind: "interrupted"; why: "shutdown" | "lease" | "breaker" | "staging"; detail: string }
  | {
      kind: "failed";
      error: unknown;
      /**
       * For a destination-class error: the destination's probe, run right after, passed. Then
       * the destination works and the error concerns this artifact (a bucket policy or KMS
       * key denying one object, a 400 on one request): an attempt of it, not a pause.
       */
      probePassed?: boolean;
    };

/** How a delivery ends (decideEnd): what Settlement then carries out. */
export type End =
  | { settle: "ack" }
  | {
      settle: "nak";
      delayMs: number;
      /** The pending entry to record, or undefined to leave the ledger as it is. */
      pending: { attempts: number; error: string } | undefined;
      /** The destination itself is broken: open the breaker now. */
      openBreaker: boolean;
    }
  | { settle: "term"; attempts: number; error: string; errorClass: DeadClass };

/** The destination's config that decideEnd needs. */
export interface EndPolicy {
  maxDeliver: number;
  backoff: BackoffConfig;
  /** How long an open breaker waits before its probe: a paused event comes back then. */
  breakerResetMs: number;
}

/** Said in the ledger and the DLQ letter of a destination-class error that counted as an attempt. */
export const PROBE_PASSED = " (the destination's probe passed: counted as a failed attempt of this artifact)";

/**
 * How a delivery ends after attempt number `attempt` had `outcome`. A destination-class error
 * pauses the destination without counting an attempt, unless its probe passed right after: then
 * it is this artifact's, retried like a transient error and dead-lettered after maxDeliver, so it
 * can neither loop forever nor hold back the later versions of its key.
 */
export function decideEnd(outcome: Outcome, attempt: number, policy: EndPolicy): End {
  const notAnAttempt = attempt - 1;
  switch (outcome.kind) {
    case "uploaded":
      return { settle: "ack" };
    case "interrupted":
      if (outcome.why === "shutdown") {
        return {
          settle: "nak",
          delayMs: 0,
          pending: { attempts: notAnAttempt, error: outcome.detail },
          openBreaker: false,
        };
      }
      if (outcome.why === "lease" || outcome.why === "staging") {
        const pending = { attempts: notAnAttempt, error: outcome.detail };
        return { settle: "nak", delayMs: policy.backoff.initialMs, pending, openBreaker: false };
      }
      return { settle: "nak", delayMs: policy.breakerResetMs, pending: undefined, openBreaker: false };
    case "failed": {
      const cls = classify(outcome.error);
      const ofArtifact = cls === "destination" && outcome.probePassed === true;
      const error = `${describeError(outcome.error)}${ofArtifact ? PROBE_PASSED : ""}`;
      if (cls === "destination" && !ofArtifact) {
        const pending = { attempts: notAnAttempt, error };
        return { settle: "nak", delayMs: policy.breakerResetMs, pending, openBreaker: true };
      }
      if (cls === "permanent") return { settle: "term", attempts: attempt, error, errorClass: "permanent" };
      if (attempt >= policy.maxDeliver) return { settle: "term", attempts: attempt, error, errorClass: "transient" };
      const retryAfter = outcome.error instanceof TransientError ? outcome.error.retryAfterMs : undefined;
      const delayMs = retryDelay(attempt, policy.backoff, retryAfter);
      return { settle: "nak", delayMs, pending: { attempts: attempt, error }, openBreaker: false };
    }
  }
}
