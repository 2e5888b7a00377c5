/**
 * The uploader runtime for one destination: two pull loops (its events, and the DLQ replays meant
 * for it) hand over each delivery, which is admitted (the subject vouches for the body), waits its
 * turn for its order key, holding the key's lease is uploaded through the breaker
 * (leased-upload.ts), and ends as delivery-decision.ts decides: every ending goes through one
 * Settlement method per verdict, which writes the ledger before it acks, naks, or terms with a
 * DLQ letter. A member of a checkpoint set has its set's work done (set-completion.ts) before it
 * is settled.
 */
import type { Consumer, JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { BlobStores } from "../blob/mod.ts";
import type { DestinationConfig } from "../config/config.ts";
import { admitDelivery, type Delivery } from "../contract/admission.ts";
import { parseDestinationName } from "../contract/destination-name.ts";
import { isTerminal } from "../contract/ledger-entry.ts";
import { replayRefusal } from "../dead-letters/replay.ts";
import type { Destination } from "../destination/destination.ts";
import { describeError } from "../destination/errors.ts";
import type { Ledger } from "../ledger/ledger.ts";
import { SetLedger } from "../ledger/set-ledger.ts";
import type { DestinationDirectory } from "../nats/destinations.ts";
import type { DestinationBreaker } from "./breaker.ts";
import { decideStart } from "./delivery-decision.ts";
import { type EntryBase, Settlement } from "./delivery-settlement.ts";
import { destinationGates } from "./destination-gates.ts";
import type { KeyLeases } from "./key-lease.ts";
import { ackFloorReader, KeyOrder, keyScope } from "./key-order.ts";
import { LeasedUpload } from "./leased-upload.ts";
import type { PauseGate } from "./pause-gate.ts";
import { PullLoop } from "./pull-loop.ts";
import { SetCompletion } from "./set-completion.ts";
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
  private readonly leased: LeasedUpload;

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
    this.leased = new LeasedUpload({
      ledger: deps.ledger,
      destination: deps.destination,
      destinationToken: this.token,
      config: deps.config,
      blobs: deps.blobs,
      log: deps.log,
      metrics: deps.metrics,
      replicaId: deps.replicaId,
      breaker: this.breaker,
      settle: this.settle,
      sets: this.sets,
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
        ...(delivery.event.set && !delivery.event.set.close ? { set: delivery.event.set.name } : {}),
      },
      ac.signal,
      () => msg.working(),
    );
    const outsider = turn.kind === "acquired" && (await this.sets.outsider(delivery.event, turn.landedSet));
    if (turn.kind === "acquired" && outsider) {
      // The fence stays: the refused version is never written, and neither is an older one.
      await turn.lease.release().catch(() => undefined);
      await this.sets.died(delivery, outsider);
      await this.settle.kill(msg, base, start.priorAttempts, outsider, "permanent", delivery.eventsSubject);
      return;
    }
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
        const location = entry?.state === "uploaded" ? entry.location : undefined;
        if (!(await this.leased.setLanded(msg, delivery, ac.signal, location))) return;
        await this.settle.finish(msg, uploaded, delivery);
        return;
      }
      case "acquired":
        await this.leased.upload(
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
