/**
 * The uploader runtime for one destination: two pull loops (its events, and the DLQ replays meant
 * for it) hand over each delivery, which is admitted (the subject vouches for the body), waits its
 * turn for its order key, holding the key's lease is uploaded through the breaker, and ends as
 * delivery-decision.ts decides: every ending goes through one Settlement method per verdict,
 * which writes the ledger before it acks, naks, or terms with a DLQ letter. A member of a
 * checkpoint set has its set's work done (set-completion.ts) before it is settled.
 */
import type { Consumer, JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { BlobStores } from "../blob/mod.ts";
import type { DestinationConfig } from "../config/config.ts";
import { admitDelivery, type Delivery } from "../contract/admission.ts";
import { parseDestinationName } from "../contract/destination-name.ts";
import { ATTEMPT_HISTORY, type AttemptRecord, isTerminal } from "../contract/ledger-entry.ts";
import { replayRefusal } from "../dead-letters/replay.ts";
import type { Destination } from "../destination/destination.ts";
import { classify, describeError } from "../destination/errors.ts";
import type { Ledger } from "../ledger/ledger.ts";
import { SetLedger } from "../ledger/set-ledger.ts";
import type { DestinationDirectory } from "../nats/destinations.ts";
import type { DestinationBreaker } from "./breaker.ts";
import { decideEnd, decideStart, type End, type Outcome } from "./delivery-decision.ts";
import { type EntryBase, Settlement } from "./delivery-settlement.ts";
import { destinationGates } from "./destination-gates.ts";
import type { KeyLease, KeyLeases } from "./key-lease.ts";
import { ackFloorReader, KeyOrder, keyScope } from "./key-order.ts";
import type { PauseGate } from "./pause-gate.ts";
import { PullLoop } from "./pull-loop.ts";
import { SetCompletion } from "./set-completion.ts";
import { attemptUpload } from "./upload-attempt.ts";
import type { WorkerMetrics } from "./worker-metrics.ts";

export interface WorkerDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The destination's consumers: its events, and the DLQ replays meant for it. */
  consumers: { events: Consumer; replays: Consumer };
  destination: Destination;
  config: DestinationConfig;
  ledger: Ledger;
  leases: KeyLeases;
  directory: DestinationDirectory;
  blobs: BlobStores;
  log: Logger;
  metrics: WorkerMetrics;
  /** Unique per process: lease holders are `<replicaId>/<seq>/<delivery>`. */
  replicaId: string;
  /** Whether the server takes `+TERM <reason>`; nats-server 2.9 only takes a bare `+TERM`. */
  termReasons: boolean;
  /** How often the destination's pause record is read (default PAUSE_POLL_MS). */
  pausePollMs?: number;
}

/** Below this size an extra upload is cheaper than the coalescing look-up for a new key. */
const COALESCE_CHECK_MIN_BYTES = 1 << 20;

/** One destination: its breaker, its pause, its pull loops, and what happens to each delivery. */
export class DestinationWorker {
  readonly breaker: DestinationBreaker;
  /** An operator's pause of the destination (`artifact-bus pause`), as this replica last read it. */
  readonly pause: PauseGate;
  private readonly deps: WorkerDeps;
  private readonly token: string;
  private readonly pulls: PullLoop[];
  private readonly order: KeyOrder;
  private readonly settle: Settlement;
  private readonly sets: SetCompletion;

  constructor(deps: WorkerDeps) {
    this.deps = deps;
    this.token = parseDestinationName(deps.destination.name).token;
    this.settle = new Settlement({
      js: deps.js,
      ledger: deps.ledger,
      destination: deps.destination.name,
      destinationToken: this.token,
      directory: deps.directory,
      blobs: deps.blobs,
      log: deps.log,
      termReasons: deps.termReasons,
      onSuperseded: () => deps.metrics.superseded(deps.destination.name),
      onDeadLettered: () => deps.metrics.deadLettered(deps.destination.name),
    });
    ({ breaker: this.breaker, pause: this.pause } = destinationGates(deps, this.token, () => {
      for (const p of this.pulls) p.interrupt();
    }));
    this.order = new KeyOrder({
      leases: deps.leases,
      jsm: deps.jsm,
      destinationToken: this.token,
      orderKeyOf: (event) => deps.destination.orderKey(event),
      maxWaitMs: deps.config.ackWaitMs * 2,
      coalesce: deps.config.coalesce ?? deps.destination.coalesceByDefault ?? true,
      scopeOf: (e) => keyScope(e, deps.config.filter),
      finished: async (ref) => isTerminal((await deps.ledger.getOf(this.token, ref, ref.seq))?.state),
      ackFloor: ackFloorReader(deps.consumers.events),
    });
    this.sets = new SetCompletion({
      sets: new SetLedger(deps.ledger.kv),
      destination: deps.destination,
      destinationToken: this.token,
      order: this.order,
      config: deps.config,
      log: deps.log,
      replicaId: deps.replicaId,
    });
    const loop = (consumer: Consumer, concurrency: number) =>
      new PullLoop({
        consumer,
        concurrency,
        // The pause first: a paused destination's half-open breaker does not probe.
        gates: [this.pause, this.breaker],
        log: deps.log,
        handle: (msg, ac) => this.handle(msg, ac),
        onHandlerError: (msg, err) => {
          // Not an attempt: the ledger says how many were made, whatever JetStream counts.
          deps.log.error({ err: describeError(err), seq: msg.info.streamSequence }, "handler failed; redelivering");
          this.settle.redeliverLater(msg, deps.config.backoff.initialMs);
        },
      });
    // Replays are rare and operator-driven: one at a time is plenty.
    this.pulls = [loop(deps.consumers.events, deps.config.concurrency), loop(deps.consumers.replays, 1)];
  }

  start(): void {
    this.pause.start();
    for (const p of this.pulls) p.start();
  }

  /** Stops pulling, lets in-flight uploads finish for `graceMs`, then naks what remains. */
  async stop(graceMs: number): Promise<void> {
    this.pause.stop();
    await Promise.all(this.pulls.map((p) => p.stop(graceMs)));
    this.breaker.shutdown();
  }

  private async handle(msg: JsMsg, ac: AbortController): Promise<void> {
    const admitted = admitDelivery(
      { subject: msg.subject, data: msg.data, headers: msg.headers, seq: msg.info.streamSequence },
      this.token,
    );
    if (!admitted.ok) return this.settle.reject(msg, admitted);
    const delivery: Delivery = admitted;
    let base = this.entryBase(delivery);
    const redelivered = msg.info.deliveryCount > 1;
    // A first delivery has no outcome yet (short of its id re-sent after the dedupe window, which
    // the fence and the guarded writes cover), so only redeliveries and replays read the ledger.
    const prior =
      redelivered || delivery.replayDlqSeq !== undefined
        ? await this.deps.ledger.getOf(this.token, base, delivery.orderSeq)
        : undefined;
    // Every write of this delivery keeps the attempts made so far (a retry is a redelivery, so
    // the prior entry was read).
    if (prior?.history?.length) base = { ...base, history: prior.history };
    const start = decideStart(prior, delivery.replayDlqSeq, this.deps.config.maxDeliver);
    switch (start.kind) {
      case "finished":
        this.settle.alreadyFinished(msg);
        return;
      case "letterMissing":
        await this.settle.resendLetter(msg, start.entry, delivery.eventsSubject);
        return;
      case "exhausted":
        await this.sets.died(delivery, start.reason);
        await this.settle.kill(msg, base, start.attempts, start.reason, "transient", delivery.eventsSubject);
        return;
    }
    const refusal = await replayRefusal(this.deps.blobs, delivery);
    if (refusal) {
      await this.sets.died(delivery, refusal);
      return this.settle.refuseReplay(msg, base, refusal, prior?.errorClass);
    }
    const refused = await this.sets.refusal(delivery);
    if (refused) {
      if (refused.failsSet) await this.sets.died(delivery, refused.reason);
      await this.settle.kill(msg, base, start.priorAttempts, refused.reason, "permanent", delivery.eventsSubject);
      return;
    }
    let orderKey: string;
    try {
      orderKey = this.deps.destination.orderKey(delivery.event);
    } catch (err) {
      // No valid path for it at this destination: no retry can change that.
      const error = describeError(err);
      await this.sets.died(delivery, error);
      await this.settle.kill(msg, base, start.priorAttempts, error, "permanent", delivery.eventsSubject);
      return;
    }
    if (start.revive) {
      await this.deps.ledger.update(this.token, base, (cur) =>
        cur?.state === "dead" && cur.dlqSeq === delivery.replayDlqSeq
          ? { ...base, state: "pending", attempts: 0 }
          : undefined,
      );
    }
    const turn = await this.order.take(
      {
        event: delivery.event,
        orderKey,
        orderSeq: delivery.orderSeq,
        eventsSubject: delivery.eventsSubject,
        holder: `${this.deps.replicaId}/${msg.info.streamSequence}/${msg.info.deliveryCount}`,
        cheapFirstVersion: delivery.event.blob.size < COALESCE_CHECK_MIN_BYTES,
      },
      ac.signal,
      () => msg.working(),
    );
    switch (turn.kind) {
      case "later":
        this.settle.redeliverLater(msg, this.deps.config.backoff.initialMs); // a wait, not an attempt
        return;
      case "superseded": {
        const superseded = { ...base, state: "superseded" as const, supersededBy: turn.by };
        await this.settle.finish(msg, { ...superseded, attempts: start.priorAttempts }, delivery, {
          expectNew: !redelivered && delivery.replayDlqSeq === undefined,
        });
        return;
      }
      case "done": {
        // Uploaded before a crash lost the ack: keep the ledger's location. `prior` was read before
        // the turn and may predate the upload's own record (an earlier delivery finishing meanwhile).
        const entry =
          prior?.state === "uploaded" ? prior : await this.deps.ledger.getOf(this.token, base, delivery.orderSeq);
        const uploaded = entry?.state === "uploaded" ? entry : { ...base, state: "uploaded" as const, attempts: 0 };
        if (!(await this.setLanded(msg, delivery, ac.signal, entry?.state === "uploaded" ? entry.location : undefined)))
          return;
        await this.settle.finish(msg, uploaded, delivery);
        return;
      }
      case "acquired":
        await this.upload(
          msg,
          delivery,
          base,
          turn.lease,
          start.priorAttempts + 1,
          redelivered || !!delivery.replayDlqSeq,
          ac,
        );
    }
  }

  /** Attempt `attempt` of a delivery holding its key, and what follows from its outcome. */
  private async upload(
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
  private async setLanded(msg: JsMsg, delivery: Delivery, signal: AbortSignal, location?: string): Promise<boolean> {
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

  private entryBase(delivery: Delivery): EntryBase {
    return {
      destination: this.deps.destination.name,
      eventId: delivery.event.id,
      project: delivery.event.project,
      run: delivery.event.run,
      name: delivery.event.name,
      streamSeq: delivery.orderSeq,
      ...(delivery.replayDlqSeq !== undefined ? { replayDlqSeq: delivery.replayDlqSeq } : {}),
    };
  }
}
