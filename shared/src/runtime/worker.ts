/**
 * The uploader runtime for one destination: its pull loop hands over each delivery, which is
 * serialized per key with a lease, uploaded through the breaker, and mapped to ack /
 * nak(backoff) / term + DLQ, with the ledger written at every transition.
 */
import type { Consumer, JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { BlobStores } from "../blob/mod.ts";
import type { DestinationConfig } from "../config.ts";
import { InvalidArtifactError } from "../event/names.ts";
import type { ArtifactEventV1 } from "../event/schema.ts";
import { artifactKey } from "../event/subjects.ts";
import { decodeEvent } from "../event/validate.ts";
import type { DestinationDirectory } from "../nats/destinations.ts";
import { EVENTS_STREAM } from "../nats/topology-names.ts";
import { retryDelay } from "./backoff.ts";
import { releaseBlobIfDone } from "./blob-release.ts";
import { DestinationBreaker, isBreakerOpenError } from "./breaker.ts";
import { publishDeadLetter } from "./dead-letter.ts";
import type { Destination } from "./destination.ts";
import { parseDestinationName } from "./destination-name.ts";
import { classify, describeError, TransientError } from "./errors.ts";
import { headKey, type KeyLease, type KeyLeases } from "./key-lease.ts";
import { isTerminal, type Ledger, type LedgerEntry } from "./ledger.ts";
import { PullLoop, ShutdownAbort } from "./pull-loop.ts";
import { stagedArtifact } from "./staged-artifact.ts";
import { UploadHeartbeat } from "./upload-heartbeat.ts";
import type { WorkerMetrics } from "./worker-metrics.ts";

export interface WorkerDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  consumer: Consumer;
  destination: Destination;
  config: DestinationConfig;
  ledger: Ledger;
  leases: KeyLeases;
  directory: DestinationDirectory;
  blobs: BlobStores;
  log: Logger;
  metrics: WorkerMetrics;
  /** Unique per process: lease holders are `<replicaId>/<seq>`. */
  replicaId: string;
}

/** Below this size an extra upload is cheaper than the coalescing look-up for a new key. */
const COALESCE_CHECK_MIN_BYTES = 1 << 20;

/** One destination: its breaker, its pull loop, and what happens to each delivery. */
export class DestinationWorker {
  readonly breaker: DestinationBreaker;
  private readonly d: WorkerDeps;
  private readonly token: string;
  private readonly pulls: PullLoop;

  constructor(deps: WorkerDeps) {
    this.d = deps;
    this.token = parseDestinationName(deps.destination.name).token;
    this.breaker = new DestinationBreaker(
      deps.config.breaker,
      (s) => deps.destination.probe(s),
      (err) => {
        if (err) deps.log.warn({ error: describeError(err) }, "probe failed: breaker stays open");
        else deps.log.info("probe passed");
      },
    );
    this.pulls = new PullLoop({
      consumer: deps.consumer,
      concurrency: deps.config.concurrency,
      breaker: this.breaker,
      log: deps.log,
      handle: (msg, ac) => this.handle(msg, ac),
      onHandlerError: (msg, err) => {
        deps.log.error(
          { err: describeError(err), seq: msg.info.streamSequence },
          "handler failed; message will be redelivered",
        );
        msg.nak(deps.config.backoff.initialMs);
      },
    });
    this.breaker.on("open", () => {
      deps.log.warn({ destination: deps.destination.name }, "breaker open: pausing pulls");
      deps.metrics.breakerState.set({ destination: deps.destination.name }, 1);
      this.pulls.interrupt();
    });
    this.breaker.on("close", () => {
      deps.log.info({ destination: deps.destination.name }, "breaker closed: resuming");
      deps.metrics.breakerState.set({ destination: deps.destination.name }, 0);
    });
  }

  start(): void {
    this.pulls.start();
  }

  /** Stops pulling, lets in-flight uploads finish for `graceMs`, then naks what remains. */
  async stop(graceMs: number): Promise<void> {
    await this.pulls.stop(graceMs);
    this.breaker.shutdown();
  }

  private async handle(msg: JsMsg, ac: AbortController): Promise<void> {
    const seq = msg.info.streamSequence;
    const attempt = msg.info.deliveryCount;
    let event: ArtifactEventV1;
    try {
      event = decodeEvent(msg.data);
    } catch (err) {
      const reason = err instanceof InvalidArtifactError ? `invalid event: ${err.message}` : describeError(err);
      await this.deadLetter(msg, undefined, reason, "invalid", attempt);
      return;
    }
    if (event.replayFor !== undefined && event.replayFor !== this.d.destination.name) {
      msg.ack(); // a DLQ replay for another destination
      return;
    }
    const base = {
      destination: this.d.destination.name,
      eventId: event.id,
      project: event.project,
      run: event.run,
      name: event.name,
      streamSeq: seq,
      attempts: attempt,
    };
    // A redelivery may find its outcome recorded already (the ack was lost): never redo it. A
    // first delivery can only if its id was re-sent after the dedupe window; then the lease's
    // doneSeq and the guarded failure writes keep the recorded outcome, so it needs no read.
    if (attempt > 1 && isTerminal((await this.d.ledger.get(this.token, event.id))?.state)) {
      msg.ack();
      return;
    }
    const lease = await this.acquireLease(msg, event, base, ac.signal);
    if (!lease) return;
    // "uploading" is recorded only for uploads still running after a moment: for small artifacts
    // the write would cost as much as the upload, and the next state follows at once anyway.
    const heartbeat = new UploadHeartbeat(msg, lease, this.d.config, ac, () =>
      this.d.ledger.recordUnlessTerminal(this.token, { ...base, state: "uploading" }),
    );
    const started = Date.now();
    this.d.log.debug({ eventId: event.id, seq, attempt, name: event.name }, "upload started");
    try {
      const receipt = await this.breaker.run(() =>
        this.d.destination.upload(
          stagedArtifact(this.d.blobs, event, seq),
          heartbeat.context(attempt, this.d.log.child({ eventId: event.id, seq })),
        ),
      );
      this.d.metrics.uploaded(this.d.destination.name, receipt.size, Date.now() - started);
      // Debug, not info: at thousands of small artifacts a second the log line costs more than the ack.
      this.d.log.debug({ eventId: event.id, seq, location: receipt.location, ms: Date.now() - started }, "uploaded");
      // The heartbeat runs until the ack: a slow finish (NATS restarting) must not let the
      // delivery expire and a redelivery upload the same bytes again.
      await this.finish(msg, event, { ...base, state: "uploaded", location: receipt.location });
      heartbeat.stop();
    } catch (err) {
      heartbeat.stop();
      await lease.release().catch(() => undefined);
      await this.failed(msg, event, base, err, ac.signal);
    }
  }

  private async failed(
    msg: JsMsg,
    event: ArtifactEventV1,
    base: Omit<LedgerEntry, "state" | "updatedAt">,
    err: unknown,
    signal: AbortSignal,
  ) {
    const attempt = base.attempts;
    if (signal.aborted && signal.reason instanceof ShutdownAbort) {
      await this.d.ledger.recordUnlessTerminal(this.token, {
        ...base,
        state: "pending",
        error: "interrupted by shutdown",
      });
      msg.nak();
      return;
    }
    if (isBreakerOpenError(err)) {
      msg.nak(this.d.config.breaker.resetTimeoutMs);
      return;
    }
    const error = describeError(err);
    this.d.metrics.failed(this.d.destination.name, classify(err));
    if (isTerminal((await this.d.ledger.get(this.token, event.id))?.state)) {
      // This delivery outlived its ack wait and a redelivery already finished the event.
      msg.ack();
      return;
    }
    if (classify(err) === "permanent" || attempt >= this.d.config.maxDeliver) {
      this.d.log.error({ eventId: event.id, attempt, error }, "upload failed for good: dead-lettering");
      await this.deadLetter(msg, event, error, classify(err), attempt);
      // The blob stays for a replay of the DLQ entry; the sweeper removes it after maxAge.
      await this.d.ledger.recordUnlessTerminal(this.token, { ...base, state: "dead", error });
      return;
    }
    const delay = retryDelay(
      attempt,
      this.d.config.backoff,
      err instanceof TransientError ? err.retryAfterMs : undefined,
    );
    this.d.log.warn({ eventId: event.id, attempt, delayMs: delay, error }, "upload failed: retrying");
    await this.d.ledger.recordUnlessTerminal(this.token, { ...base, state: "pending", error });
    msg.nak(delay);
  }

  private async acquireLease(
    msg: JsMsg,
    event: ArtifactEventV1,
    base: Omit<LedgerEntry, "state" | "updatedAt">,
    signal: AbortSignal,
  ): Promise<KeyLease | undefined> {
    const key = headKey(this.token, event.project, event.run, artifactKey(event.name));
    const holder = `${this.d.replicaId}/${base.streamSeq}`;
    const deadline = Date.now() + this.d.config.ackWaitMs * 2;
    for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
      const r = await this.d.leases.acquire(key, base.streamSeq, holder, event.id);
      if (r.kind === "acquired") {
        // Coalescing: newer versions of the key may be waiting; then skip to the newest. For the
        // first small version of a key the look-up costs more than the upload it could save.
        const worthChecking = !r.firstVersion || event.blob.size >= COALESCE_CHECK_MIN_BYTES;
        if (!worthChecking || !(await this.newerOnSubject(msg.subject, base.streamSeq))) return r.lease;
        await r.lease.release();
        await this.finish(msg, event, { ...base, state: "superseded" });
        return undefined;
      }
      if (r.kind === "busy" && (await this.newerOnSubject(msg.subject, base.streamSeq))) {
        await this.finish(msg, event, { ...base, state: "superseded" });
        return undefined;
      }
      if (r.kind === "done") {
        // Uploaded before a crash lost the ack: keep the ledger's location.
        const prior = await this.d.ledger.get(this.token, event.id);
        await this.finish(msg, event, prior?.state === "uploaded" ? prior : { ...base, state: "uploaded" });
        return undefined;
      }
      if (r.kind === "superseded") {
        await this.finish(msg, event, { ...base, state: "superseded", supersededBy: r.by });
        return undefined;
      }
      if (signal.aborted || Date.now() > deadline) {
        msg.nak(this.d.config.backoff.initialMs);
        return undefined;
      }
      msg.working();
      await new Promise((res) => setTimeout(res, wait));
    }
  }

  /** True when a newer event for the same subject is already in the stream (coalescing). */
  private async newerOnSubject(subject: string, seq: number): Promise<boolean> {
    try {
      const last = await this.d.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: subject });
      return last !== null && last.seq > seq;
    } catch {
      return false;
    }
  }

  /**
   * Records a terminal state and acks. An `uploaded` entry also completes the key's lease: the
   * next holder reads it (key-lease.ts), so the lease record needs no write of its own.
   */
  private async finish(msg: JsMsg, event: ArtifactEventV1, entry: Omit<LedgerEntry, "updatedAt">): Promise<void> {
    await Promise.all([
      this.d.ledger.record(this.token, entry),
      // A replay finishes the dead original here too: its blob may then go (see blob-release.ts).
      event.replayOf && this.d.ledger.record(this.token, { ...entry, eventId: event.replayOf, replayId: event.id }),
    ]);
    if (entry.state === "superseded") this.d.metrics.superseded(this.d.destination.name);
    // A plain ack: if it is lost, the redelivery finds the terminal ledger entry and acks again.
    msg.ack();
    await this.releaseBlob(event);
  }

  private async deadLetter(
    msg: JsMsg,
    event: ArtifactEventV1 | undefined,
    reason: string,
    errorClass: "permanent" | "transient" | "invalid",
    attempts: number,
  ) {
    await publishDeadLetter(this.d.js, this.token, {
      destination: this.d.destination.name,
      reason,
      errorClass,
      attempts,
      streamSeq: msg.info.streamSequence,
      subject: msg.subject,
      eventId: event?.id,
      payload: new TextDecoder().decode(msg.data),
      failedAt: new Date().toISOString(),
    });
    this.d.metrics.deadLettered(this.d.destination.name);
    msg.term(reason.slice(0, 200));
  }

  private async releaseBlob(event: ArtifactEventV1): Promise<void> {
    try {
      await releaseBlobIfDone(event, this.token, this.d.ledger, this.d.directory, this.d.blobs);
    } catch (err) {
      // The sweeper removes what is left behind; a failed delete never fails an upload.
      this.d.log.warn({ eventId: event.id, err: describeError(err) }, "blob release failed");
    }
  }
}
