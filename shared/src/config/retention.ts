/**
 * How long each thing artifact-bus keeps lives, derived in this one place from the two limits an
 * operator sets, so that they cannot disagree: a replay needs its letter, the dead ledger entry
 * that says the letter is the event's latest death, and the staged blob, all at once.
 */
import type { Config } from "./config.ts";

/** A letter lives this many times the events' max age, unless `stream.deadLetterMaxAgeMs` says. */
export const DEAD_LETTER_AGE_FACTOR = 4;

/** The stream settings retention is derived from. */
export type RetentionSettings = Pick<Config["stream"], "maxAgeMs" | "deadLetterMaxAgeMs">;

/** Ages in milliseconds. */
export interface Retention {
  /**
   * Events in ARTIFACTS. Also the age after which the sweeper removes a blob that no ledger entry
   * needs (an orphan: its publish failed, or a release was missed).
   */
  eventsMs: number;
  /**
   * Letters in ARTIFACTS_DLQ. The sweeper keeps a dead event's blob while its death (the ledger
   * entry, written just after the letter) is younger than this: the blob outlives the letter.
   */
  deadLettersMs: number;
  /**
   * The ledger bucket's TTL: past the events (flush and status still answer after they expire)
   * and at least the letters (a replay checks that the dead entry names its letter).
   */
  ledgerMs: number;
  /**
   * The blob bucket's max age, counted from staging: a backstop the server applies whatever the
   * sweeper does (it also clears the markers that blob removal leaves). An event dies at most
   * about `eventsMs` after staging, and its letter lives `deadLettersMs` from then; one more
   * `eventsMs` covers the last attempt and a publish retried late.
   */
  blobBucketMs: number;
}

/** The retention of every stream and bucket, from validated stream settings. */
export function retentionOf(stream: RetentionSettings): Retention {
  const eventsMs = stream.maxAgeMs;
  const deadLettersMs = stream.deadLetterMaxAgeMs ?? eventsMs * DEAD_LETTER_AGE_FACTOR;
  return {
    eventsMs,
    deadLettersMs,
    ledgerMs: Math.max(eventsMs * 2, deadLettersMs),
    blobBucketMs: eventsMs * 2 + deadLettersMs,
  };
}
