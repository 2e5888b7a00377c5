/**
 * How a delivery ends at one destination once its fate is decided (delivery-decision.ts): one
 * method per verdict, each writing the ledger first and then settling the message (ack, nak with
 * a delay, or term with a DLQ letter), so the worker never settles a message itself. A finished
 * event's blob is released once no destination needs it; deaths go through DeadLetterer.
 */
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { BlobLocation, BlobStores } from "../blob/mod.ts";
import type { Rejection } from "../contract/admission.ts";
import type { DeadClass, NewLedgerEntry } from "../contract/ledger-entry.ts";
import { DeadLetterer } from "../dead-letters/dead-letterer.ts";
import { describeError } from "../destination/errors.ts";
import type { Ledger, WriteOptions } from "../ledger/ledger.ts";
import type { DestinationDirectory } from "../nats/destinations.ts";
import { type Releasable, releaseBlobIfDone } from "./blob-release.ts";

/** What a Settlement writes to and reports to. */
export interface SettlementOptions {
  js: JetStreamClient;
  ledger: Ledger;
  /** The destination's name, `<kind>:<name>`, as its dead letters say it. */
  destination: string;
  destinationToken: string;
  directory: DestinationDirectory;
  blobs: BlobStores;
  log: Logger;
  /** Whether the server takes `+TERM <reason>`; nats-server 2.9 only takes a bare `+TERM`. */
  termReasons: boolean;
  onSuperseded(): void;
  onDeadLettered(): void;
}

/** The fields every ledger entry of a delivery shares. */
export type EntryBase = Omit<NewLedgerEntry, "state" | "attempts">;

/** Carries out every ending of a delivery the worker handles at one destination. */
export class Settlement {
  private readonly options: SettlementOptions;
  private readonly dead: DeadLetterer;
  constructor(options: SettlementOptions) {
    this.options = options;
    this.dead = new DeadLetterer({
      js: options.js,
      ledger: options.ledger,
      destination: options.destination,
      destinationToken: options.destinationToken,
      termReasons: options.termReasons,
      onDeadLettered: options.onDeadLettered,
    });
  }

  /**
   * A delivery whose outcome is recorded already (a lost ack, a replay that is stale or done, an
   * upload another delivery finished meanwhile): only acked, the ledger is left as it is.
   */
  alreadyFinished(msg: JsMsg): void {
    msg.ack();
  }

  /**
   * Records `uploaded` or `superseded`, acks, and releases the blob if no destination needs it
   * now. Neither replaces a later verdict: `uploaded` is written unless the event is superseded
   * or dead already (Ledger.recordUploaded), `superseded` unless it is terminal; a refused
   * outcome is only acked. `write.expectNew`: the delivery wrote no entry before and read none.
   */
  async finish(
    msg: JsMsg,
    entry: NewLedgerEntry,
    delivery: { event: { blob: BlobLocation }; eventsSubject: string },
    write: WriteOptions = {},
  ) {
    const token = this.options.destinationToken;
    const recorded =
      entry.state === "uploaded"
        ? await this.options.ledger.recordUploaded(token, entry, write)
        : await this.options.ledger.recordUnlessTerminal(token, entry, write);
    if (!recorded) {
      if (entry.state === "uploaded") {
        // A holder that outlived its lease: the verdict of the replica that took the key stands.
        this.options.log.warn(
          { eventId: entry.eventId, seq: entry.streamSeq },
          "upload finished after the event was superseded or dead: not recorded",
        );
      }
      msg.ack();
      return;
    }
    // Debug: which revision holds the verdict, so a ledger entry a server loses later can be
    // told from one the uploader never wrote (the cluster fault test reads it).
    this.options.log.debug({ eventId: entry.eventId, state: entry.state, revision: recorded }, "recorded");
    if (entry.state === "superseded") this.options.onSuperseded();
    // A plain ack: if it is lost, the redelivery finds the terminal ledger entry and acks again.
    msg.ack();
    await this.releaseBlob({ ref: entry, blob: delivery.event.blob, eventsSubject: delivery.eventsSubject });
  }

  /**
   * Naks so the message comes back after `delayMs`, writing nothing: a wait (for a busy key) or a
   * handler that failed, neither of which is an attempt.
   */
  redeliverLater(msg: JsMsg, delayMs: number): void {
    msg.nak(delayMs);
  }

  /**
   * Records `pending` with the reason, if given, and naks so the message comes back after
   * `delayMs`: a retry, or a wait that is no attempt.
   */
  async retryLater(msg: JsMsg, pending: NewLedgerEntry | undefined, delayMs: number): Promise<void> {
    // Not written: the event is terminal already, finished by a redelivery this one outlived.
    if (pending && !(await this.options.ledger.recordUnlessTerminal(this.options.destinationToken, pending))) {
      msg.ack();
      return;
    }
    msg.nak(delayMs);
  }

  /**
   * Dead-letters a delivery: records `dead` (unless the event is terminal already), publishes
   * its letter, terminates. Its blob stays for a replay as long as the letter (blob-release.ts).
   */
  kill(
    msg: JsMsg,
    base: EntryBase,
    attempts: number,
    error: string,
    errorClass: DeadClass,
    eventsSubject: string,
  ): Promise<void> {
    this.options.log.error({ eventId: base.eventId, attempts, error }, "dead-lettering");
    return this.dead.kill(msg, { ...base, state: "dead", attempts, error, errorClass }, eventsSubject);
  }

  /** Recorded dead, its letter maybe never published (a crash in between): publishes it (deduplicated), terminates. */
  resendLetter(msg: JsMsg, dead: NewLedgerEntry, eventsSubject: string): Promise<void> {
    return this.dead.send(msg, dead, eventsSubject);
  }

  /** A replay whose blob is gone: dead again with `refusal`, under the letter it replayed (DeadLetterer.refuseReplay). */
  refuseReplay(msg: JsMsg, base: EntryBase, refusal: string, errorClass: DeadClass | undefined): Promise<void> {
    this.options.log.warn({ eventId: base.eventId, error: refusal }, "replay refused");
    return this.dead.refuseReplay(msg, base, refusal, errorClass);
  }

  /**
   * An event its subject does not vouch for: dead at once, touching no destination. It deletes no
   * blob: the one its subject and id name may be another event's (ids are the producer's to
   * choose), so what it staged is left to the sweeper.
   */
  async reject(msg: JsMsg, r: Rejection): Promise<void> {
    this.options.log.warn(
      { seq: msg.info.streamSequence, subject: msg.subject, reason: r.reason },
      "invalid event: dead-lettering",
    );
    await this.dead.reject(msg, r);
  }

  private async releaseBlob(r: Releasable): Promise<void> {
    try {
      await releaseBlobIfDone(
        r,
        this.options.destinationToken,
        this.options.ledger,
        this.options.directory,
        this.options.blobs,
      );
    } catch (err) {
      // The sweeper removes what is left behind; a failed delete never fails an upload.
      this.options.log.warn({ eventId: r.ref.eventId, err: describeError(err) }, "blob release failed");
    }
  }
}
