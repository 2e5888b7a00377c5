/** Retention limits: derived in one place so letters, ledger entries and blobs agree. */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../src/config/config.ts";
import { retentionOf } from "../src/config/retention.ts";

const DAY = 24 * 3600_000;

describe("retention", () => {
  it("by default: events 7 days, letters 28, and the ledger and blob bucket outlive the letters", () => {
    expect(retentionOf(parseConfig({}).stream)).toEqual({
      eventsMs: 7 * DAY,
      deadLettersMs: 28 * DAY,
      ledgerMs: 28 * DAY,
      blobBucketMs: 42 * DAY,
    });
  });

  it("follows stream.deadLetterMaxAgeMs: the ledger keeps a dead entry at least as long as its letter", () => {
    const long = retentionOf(parseConfig({ stream: { maxAgeMs: DAY, deadLetterMaxAgeMs: 60 * DAY } }).stream);
    expect(long).toMatchObject({ eventsMs: DAY, deadLettersMs: 60 * DAY, ledgerMs: 60 * DAY });
    expect(long.blobBucketMs).toBeGreaterThanOrEqual(long.eventsMs + long.deadLettersMs);
    const short = retentionOf(parseConfig({ stream: { maxAgeMs: 7 * DAY, deadLetterMaxAgeMs: DAY } }).stream);
    expect(short).toMatchObject({ deadLettersMs: DAY, ledgerMs: 14 * DAY });
  });

  it("a config whose limits cannot hold together fails at start, naming the field", () => {
    // 0 is "forever" to JetStream but "now" to an age check: every staged blob would be swept.
    expect(() => parseConfig({ stream: { maxAgeMs: 0 } })).toThrow(/config field stream\.maxAgeMs/);
    expect(() => parseConfig({ stream: { deadLetterMaxAgeMs: 0 } })).toThrow(/config field stream\.deadLetterMaxAgeMs/);
    expect(() => parseConfig({ stream: { maxAgeMs: 60_000, duplicateWindowMs: 120_000 } })).toThrow(
      /config field stream\.duplicateWindowMs: .*stream\.maxAgeMs/,
    );
  });
});
