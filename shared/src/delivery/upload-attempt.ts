/**
 * One upload attempt of a delivery that holds its key: the heartbeat keeps the delivery and the
 * lease alive, the breaker guards the destination, and what became of the attempt is told as an
 * Outcome (delivery-decision.ts): uploaded, interrupted (no attempt at all), or failed (after a
 * destination-class error, with whether the destination's probe passes right after).
 */
import type { JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Logger } from "pino";
import type { BlobStores } from "../blob/mod.ts";
import type { DestinationConfig } from "../config/config.ts";
import type { Delivery } from "../contract/admission.ts";
import type { NewLedgerEntry } from "../contract/ledger-entry.ts";
import type { Destination, UploadReceipt } from "../destination/destination.ts";
import { classify, describeError } from "../destination/errors.ts";
import { stagedArtifact } from "../destination/staged-artifact.ts";
import type { Written } from "../ledger/ledger.ts";
import { type DestinationBreaker, isBreakerOpenError } from "./breaker.ts";
import type { Outcome } from "./delivery-decision.ts";
import { type KeyLease, LeaseLostError } from "./key-lease.ts";
import { ShutdownAbort } from "./pull-loop.ts";
import { UploadHeartbeat } from "./upload-heartbeat.ts";
import { AttemptResume } from "./upload-resume.ts";

export interface AttemptInput {
  msg: JsMsg;
  delivery: Delivery;
  lease: KeyLease;
  /** Its ledger entry while it runs, with the attempt number. */
  uploading: NewLedgerEntry;
  /**
   * Record `uploading` before the upload starts (redeliveries: an attempt whose uploader dies
   * then still counts). Otherwise it is recorded only if the upload lasts: for small artifacts
   * the write would cost as much as the upload.
   */
  recordStart: boolean;
  /** Records the entry unless the event is terminal; undefined when it is. */
  record(entry: NewLedgerEntry): Promise<Written>;
  /** Records progress into this attempt's `uploading` entry, only while it is that (Ledger.recordProgress). */
  recordProgress(entry: NewLedgerEntry): Promise<Written>;
  ac: AbortController;
  /** The ledger bucket, where the attempt's resume record is kept (upload-resume.ts). */
  ledgerKv: KV;
  breaker: DestinationBreaker;
  destination: Destination;
  blobs: BlobStores;
  config: DestinationConfig;
  log: Logger;
}

export interface AttemptResult {
  outcome: Outcome;
  /** Set when uploaded; undefined with an "uploaded" outcome means another delivery finished it. */
  receipt?: UploadReceipt;
  /** Still running: the caller stops it once the outcome is recorded and acknowledged. */
  heartbeat: UploadHeartbeat;
}

export async function attemptUpload(a: AttemptInput): Promise<AttemptResult> {
  const attempt = a.uploading.attempts;
  const withBytes = (bytesDone: number | undefined) =>
    bytesDone === undefined ? a.uploading : { ...a.uploading, bytesDone };
  const heartbeat = new UploadHeartbeat(() => a.msg.working(), a.lease, a.config, a.ac, a.log, {
    slow: (bytesDone) => a.record(withBytes(bytesDone)),
    progress: (bytesDone) => a.recordProgress(withBytes(bytesDone)),
  });
  const log = a.log.child({ eventId: a.delivery.event.id, seq: a.msg.info.streamSequence });
  log.debug({ attempt, name: a.delivery.event.name }, "upload started");
  const artifact = stagedArtifact(a.blobs, a.delivery.event, a.delivery.orderSeq);
  const resume = new AttemptResume(a.ledgerKv, {
    eventId: a.delivery.event.id,
    seq: a.delivery.orderSeq,
    lease: a.lease,
    marginMs: heartbeat.marginMs,
    fenced: (err) => heartbeat.lose(err),
    log,
  });
  try {
    const receipt = await a.breaker.run(async () => {
      // Recorded inside the breaker: an upload the open breaker refuses was no attempt.
      if (a.recordStart && !(await a.record(a.uploading))) return undefined;
      let landed: UploadReceipt;
      try {
        landed = await a.destination.upload(artifact, heartbeat.context(attempt, log, resume));
      } finally {
        heartbeat.uploadEnded();
      }
      await resume.discard(); // landed: nothing is left to resume
      return landed;
    });
    return { outcome: { kind: "uploaded" }, heartbeat, ...(receipt ? { receipt } : {}) };
  } catch (err) {
    const interrupted = interruption(err, a.ac.signal) ?? stagingAway(artifact.unavailable);
    if (interrupted) return { outcome: interrupted, heartbeat };
    // Broken destination, or an error of this artifact's that reads like one? Its probe tells
    // (the heartbeat still keeps the delivery meanwhile).
    if (classify(err) !== "destination") return { outcome: { kind: "failed", error: err }, heartbeat };
    return { outcome: { kind: "failed", error: err, probePassed: await a.breaker.probePasses() }, heartbeat };
  }
}

/** The bus's own staging store could not answer: a wait for it, whatever the adapter made of it. */
function stagingAway(unavailable: unknown): Outcome | undefined {
  if (unavailable === undefined) return undefined;
  return {
    kind: "interrupted",
    why: "staging",
    detail: `the staged blob cannot be read now: ${describeError(unavailable)}`,
  };
}

/** Why an upload did not run, if it was not the upload's own failure. */
function interruption(err: unknown, signal: AbortSignal): Outcome | undefined {
  const reason: unknown = signal.aborted ? signal.reason : undefined;
  if (reason instanceof ShutdownAbort)
    return { kind: "interrupted", why: "shutdown", detail: "interrupted by shutdown" };
  if (reason instanceof LeaseLostError) return { kind: "interrupted", why: "lease", detail: reason.message };
  if (isBreakerOpenError(err)) return { kind: "interrupted", why: "breaker", detail: "breaker open" };
  return undefined;
}
