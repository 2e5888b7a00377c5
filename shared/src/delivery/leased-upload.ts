/**
 * What becomes of a delivery once it holds its key's lease (key-order.ts): one upload attempt
 * (upload-attempt.ts), the attempt added to the history its ledger entry keeps, and the ending
 * its outcome calls for (delivery-decision.ts), carried out through the Settlement. A member of a
 * checkpoint set that landed has its set's work done (set-completion.ts) before it is settled;
 * the worker asks for that work here too when the turn finds the delivery uploaded already.
 */
import type { JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { BlobStores } from "../blob/mod.ts";
import type { DestinationConfig } from "../config/config.ts";
import type { Delivery } from "../contract/admission.ts";
import { ATTEMPT_HISTORY, type AttemptRecord } from "../contract/ledger-entry.ts";
import type { Destination } from "../destination/destination.ts";
import { classify, describeError } from "../destination/errors.ts";
import type { Ledger } from "../ledger/ledger.ts";
import type { DestinationBreaker } from "./breaker.ts";
import { decideEnd, type End, type Outcome } from "./delivery-decision.ts";
import type { EntryBase, Settlement } from "./delivery-settlement.ts";
import type { KeyLease } from "./key-lease.ts";
import type { SetCompletion } from "./set-completion.ts";
import { attemptUpload } from "./upload-attempt.ts";
import type { WorkerMetrics } from "./worker-metrics.ts";

/** What a LeasedUpload uploads with, records to, and settles through: the worker's own parts. */
export interface LeasedUploadDeps {
  ledger: Ledger;
  destination: Destination;
  destinationToken: string;
  config: DestinationConfig;
  blobs: BlobStores;
  log: Logger;
  metrics: WorkerMetrics;
  /** Named in each attempt's history record. */
  replicaId: string;
  breaker: DestinationBreaker;
  settle: Settlement;
  sets: SetCompletion;
}

/** Uploads, and then settles, the deliveries of one destination that hold their key's lease. */
export class LeasedUpload {
  private readonly deps: LeasedUploadDeps;
  private readonly token: string;
  private readonly breaker: DestinationBreaker;
  private readonly settle: Settlement;
  private readonly sets: SetCompletion;

  constructor(deps: LeasedUploadDeps) {
    this.deps = deps;
    this.token = deps.destinationToken;
    this.breaker = deps.breaker;
    this.settle = deps.settle;
    this.sets = deps.sets;
  }

  /** Attempt `attempt` of a delivery holding its key, and what follows from its outcome. */
  async upload(
    msg: JsMsg,
    delivery: Delivery,
    base: EntryBase,
    lease: KeyLease,
    attempt: number,
    recordStart: boolean,
    ac: AbortController,
  ): Promise<void> {
    const started = Date.now();
    const { outcome, receipt, heartbeat } = await attemptUpload({
      msg,
      delivery,
      lease,
      uploading: { ...base, state: "uploading", attempts: attempt },
      recordStart,
      record: (entry) => this.deps.ledger.recordUnlessTerminal(this.token, entry),
      recordProgress: (entry) => this.deps.ledger.recordProgress(this.token, entry),
      ac,
      ledgerKv: this.deps.ledger.kv,
      breaker: this.breaker,
      destination: this.deps.destination,
      blobs: this.deps.blobs,
      config: this.deps.config,
      log: this.deps.log,
    });
    // The attempt joins the history in the write that ends it (uploaded, retry or dead).
    const ended =
      outcome.kind === "failed" || (outcome.kind === "uploaded" && receipt)
        ? { ...base, history: this.withAttempt(base, attempt, started, outcome) }
        : base;
    if (outcome.kind === "uploaded" && receipt) {
      const ms = Date.now() - started;
      this.deps.metrics.uploaded(this.deps.destination.name, receipt.size, ms);
      // Debug, not info: at thousands of small artifacts a second the log line costs more than the ack.
      this.deps.log.debug({ eventId: delivery.event.id, location: receipt.location, ms }, "uploaded");
      const { location, details, size } = receipt;
      const uploaded = {
        ...ended,
        state: "uploaded" as const,
        attempts: attempt,
        location,
        // In the write that happens anyway: what the gateway's upload rate counts, at no extra write.
        size,
        ...(details && { details }),
      };
      // The heartbeat runs until the ack: a slow finish (NATS restarting) must not let the
      // delivery expire and a redelivery upload the same bytes again.
      try {
        if (!(await this.setLanded(msg, delivery, ac.signal, location))) {
          await lease.release().catch(() => undefined);
          return;
        }
        // A first delivery recorded no start: its entry is most likely new (a slow upload's
        // progress record aside), so the write is tried as a create, without a read first.
        await this.settle.finish(msg, uploaded, delivery, { expectNew: !recordStart });
      } finally {
        heartbeat.stop();
      }
      // The stream's clock, not the producer's createdAt: a producer sets that one. A replay's
      // message is as new as the replay, so only first-hand events count.
      if (delivery.replayDlqSeq === undefined) this.deps.metrics.landed(this.deps.destination.name, msg.time);
      return;
    }
    heartbeat.stop();
    // The fence stays: whatever the upload reported, its bytes may have landed.
    await lease.release().catch(() => undefined);
    if (outcome.kind === "uploaded") {
      this.settle.alreadyFinished(msg); // another delivery of this event finished it meanwhile
      return;
    }
    if (outcome.kind === "failed") this.deps.metrics.failed(this.deps.destination.name, classify(outcome.error));
    const end = decideEnd(outcome, attempt, {
      maxDeliver: this.deps.config.maxDeliver,
      backoff: this.deps.config.backoff,
      breakerResetMs: this.deps.config.breaker.resetTimeoutMs,
    });
    await this.settleUnfinished(msg, delivery, ended, end, outcome);
  }

  /** Carries out how an upload that did not land ended: a retry or a wait (nak), or a death (term + DLQ). */
  private async settleUnfinished(
    msg: JsMsg,
    delivery: Delivery,
    base: EntryBase,
    end: End,
    outcome: Outcome,
  ): Promise<void> {
    if (end.settle === "ack") return;
    if (end.settle === "term") {
      await this.sets.died(delivery, end.error);
      await this.settle.kill(msg, base, end.attempts, end.error, end.errorClass, delivery.eventsSubject);
      return;
    }
    if (end.openBreaker) {
      this.deps.log.error({ error: end.pending?.error }, "destination broken: pausing until a probe passes");
      this.breaker.trip();
    } else if (outcome.kind === "interrupted" && outcome.why === "staging") {
      this.deps.log.warn(
        { eventId: delivery.event.id, error: outcome.detail },
        "the staged blob cannot be read now: waiting, not an attempt",
      );
    } else if (outcome.kind === "failed") {
      const { attempts, error } = end.pending ?? {};
      const fields = { eventId: delivery.event.id, attempt: attempts, delayMs: end.delayMs, error };
      this.deps.log.warn(fields, "upload failed: retrying");
    }
    const pending = end.pending && { ...base, state: "pending" as const, ...end.pending };
    await this.settle.retryLater(msg, pending, end.delayMs);
  }

  /** `base`'s history with this attempt added, the last ATTEMPT_HISTORY kept. */
  private withAttempt(base: EntryBase, attempt: number, started: number, outcome: Outcome): AttemptRecord[] {
    const record: AttemptRecord = {
      attempt,
      startedAt: new Date(started).toISOString(),
      endedAt: new Date().toISOString(),
      outcome: outcome.kind === "failed" ? "failed" : "uploaded",
      ...(outcome.kind === "failed" ? { error: describeError(outcome.error) } : {}),
      replica: this.deps.replicaId,
    };
    return [...(base.history ?? []), record].slice(-ATTEMPT_HISTORY);
  }

  /**
   * A member of a checkpoint set landed: its set's work (record, manifest, pointer) comes before
   * the delivery is settled, so a crash on the way leaves it to the redelivery. False when that
   * work failed (NATS away, the manifest's upload failing): the delivery is then redelivered, and
   * uploads its member again, as after a failed settlement.
   */
  async setLanded(msg: JsMsg, delivery: Delivery, signal: AbortSignal, location?: string): Promise<boolean> {
    try {
      await this.sets.landed(delivery, msg, signal, location);
      return true;
    } catch (err) {
      const set = delivery.event.set?.name;
      this.deps.log.warn({ eventId: delivery.event.id, set, err: describeError(err) }, "checkpoint set work failed");
      this.settle.redeliverLater(msg, this.deps.config.backoff.initialMs);
      return false;
    }
  }
}
