/** The runtime's ack / nak / term rules, without servers: what a delivery does from what the ledger says and how its upload went. */
import { describe, expect, it } from "vitest";
import type { LedgerEntry, LedgerState } from "../src/contract/ledger-entry.ts";
import { decideEnd, decideStart, PROBE_PASSED } from "../src/delivery/delivery-decision.ts";
import { DestinationError, PermanentError, TransientError } from "../src/destination/errors.ts";

const entry = (state: LedgerState, more: Partial<LedgerEntry> = {}): LedgerEntry => ({
  state,
  destination: "s3:main",
  project: "p",
  run: "r",
  eventId: "ev-00000001",
  name: "a.pt",
  streamSeq: 7,
  attempts: 1,
  updatedAt: "2026-01-01T00:00:00Z",
  ...more,
});

const policy = {
  maxDeliver: 3,
  backoff: { initialMs: 1000, maxMs: 60_000, multiplier: 2, jitter: 0 },
  breakerResetMs: 5000,
};

describe("how a delivery starts", () => {
  it("a first delivery (no entry) is attempt 1", () => {
    expect(decideStart(undefined, undefined, 3)).toEqual({ kind: "go", priorAttempts: 0, revive: false });
  });

  it("a redelivery of a finished event only acks; a dead one without its letter gets the letter", () => {
    for (const s of ["uploaded", "superseded"] as const)
      expect(decideStart(entry(s), undefined, 3).kind).toBe("finished");
    expect(decideStart(entry("dead", { dlqSeq: 4 }), undefined, 3).kind).toBe("finished");
    expect(decideStart(entry("dead"), undefined, 3).kind).toBe("letterMissing");
  });

  it("attempts come from the ledger: waits recorded as pending with their count do not add up", () => {
    expect(decideStart(entry("pending", { attempts: 2 }), undefined, 3)).toMatchObject({
      kind: "go",
      priorAttempts: 2,
    });
    expect(decideStart(entry("pending", { attempts: 0 }), undefined, 3)).toMatchObject({
      kind: "go",
      priorAttempts: 0,
    });
  });

  it("an attempt whose uploader died counts; when they run out, it ends dead with the reason", () => {
    expect(decideStart(entry("uploading", { attempts: 2 }), undefined, 3)).toMatchObject({ priorAttempts: 2 });
    const out = decideStart(entry("uploading", { attempts: 3 }), undefined, 3);
    expect(out).toMatchObject({ kind: "exhausted", attempts: 3 });
    expect(out.kind === "exhausted" && out.reason).toMatch(/3 attempt\(s\); the last did not finish/);
  });

  it("a replay runs only for the letter that records the event's latest death, from attempt 1", () => {
    expect(decideStart(entry("dead", { dlqSeq: 9, attempts: 3 }), 9, 3)).toEqual({
      kind: "go",
      priorAttempts: 0,
      revive: true,
    });
    expect(decideStart(entry("pending", { replayDlqSeq: 9, attempts: 1 }), 9, 3)).toMatchObject({ priorAttempts: 1 });
    // Replayed already (landed, or died again under a new letter), or an older letter: skipped.
    expect(decideStart(entry("uploaded", { replayDlqSeq: 9 }), 9, 3).kind).toBe("finished");
    expect(decideStart(entry("dead", { dlqSeq: 12, replayDlqSeq: 9 }), 9, 3).kind).toBe("finished");
    expect(decideStart(entry("dead", { dlqSeq: 12 }), 9, 3).kind).toBe("finished");
  });
});

describe("how a delivery ends", () => {
  it("uploaded: ack", () => {
    expect(decideEnd({ kind: "uploaded" }, 1, policy)).toEqual({ settle: "ack" });
  });

  it("a transient failure retries with backoff until maxDeliver attempts, then dies", () => {
    expect(decideEnd({ kind: "failed", error: new TransientError("reset") }, 2, policy)).toEqual({
      settle: "nak",
      delayMs: 2000,
      pending: { attempts: 2, error: "TransientError: reset" },
      openBreaker: false,
    });
    expect(decideEnd({ kind: "failed", error: new Error("unknown") }, 3, policy)).toMatchObject({
      settle: "term",
      attempts: 3,
      errorClass: "transient",
    });
    const throttled = new TransientError("slow down", { retryAfterMs: 30_000 });
    expect(decideEnd({ kind: "failed", error: throttled }, 1, policy)).toMatchObject({ delayMs: 30_000 });
  });

  it("a permanent failure of the artifact dies at once", () => {
    expect(decideEnd({ kind: "failed", error: new PermanentError("corrupt") }, 1, policy)).toMatchObject({
      settle: "term",
      attempts: 1,
      errorClass: "permanent",
    });
  });

  it("a destination-class error whose probe then passes is an attempt of this artifact: retried, then dead", () => {
    const error = new DestinationError("AccessDenied on one key");
    expect(decideEnd({ kind: "failed", error, probePassed: true }, 2, policy)).toEqual({
      settle: "nak",
      delayMs: 2000,
      pending: { attempts: 2, error: `DestinationError: AccessDenied on one key${PROBE_PASSED}` },
      openBreaker: false,
    });
    expect(decideEnd({ kind: "failed", error, probePassed: true }, 3, policy)).toEqual({
      settle: "term",
      attempts: 3,
      error: `DestinationError: AccessDenied on one key${PROBE_PASSED}`,
      errorClass: "transient",
    });
    expect(decideEnd({ kind: "failed", error, probePassed: false }, 3, policy)).toMatchObject({ openBreaker: true });
  });

  it("a broken destination opens the breaker and the event waits, with the reason, not an attempt", () => {
    expect(decideEnd({ kind: "failed", error: new DestinationError("InvalidAccessKeyId") }, 3, policy)).toEqual({
      settle: "nak",
      delayMs: 5000,
      pending: { attempts: 2, error: "DestinationError: InvalidAccessKeyId" },
      openBreaker: true,
    });
  });

  it("waits are never attempts: shutdown, a lost lease, an open breaker, the staged bytes out of reach", () => {
    const shutdown = decideEnd({ kind: "interrupted", why: "shutdown", detail: "interrupted by shutdown" }, 3, policy);
    expect(shutdown).toMatchObject({ settle: "nak", delayMs: 0, pending: { attempts: 2 } });
    const lease = decideEnd({ kind: "interrupted", why: "lease", detail: "lease lost" }, 3, policy);
    expect(lease).toMatchObject({ settle: "nak", pending: { attempts: 2 } });
    const breaker = decideEnd({ kind: "interrupted", why: "breaker", detail: "open" }, 3, policy);
    expect(breaker).toEqual({ settle: "nak", delayMs: 5000, pending: undefined, openBreaker: false });
    // Even at the last attempt: the bus's own store being away never kills an artifact.
    const staging = decideEnd({ kind: "interrupted", why: "staging", detail: "not now" }, policy.maxDeliver, policy);
    expect(staging).toMatchObject({ settle: "nak", pending: { attempts: policy.maxDeliver - 1, error: "not now" } });
  });
});
