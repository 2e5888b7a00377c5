/**
 * How a delivery ends at one destination once its fate is decided (delivery-decision.ts): the
 * ledger is written first, then the message is settled (ack, or nak with a delay), and a finished
 * event's blob is released once no destination needs it. Deaths go through DeadLettering.
 */
import type { JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { BlobLocation, BlobStores } from "../blob/mod.ts";
import type { Rejection } from "../contract/admission.ts";
import type { NewLedgerEntry } from "../contract/ledger-entry.ts";
import type { DeadLettering } from "../dead-letters/dead-letterer.ts";
import { describeError } from "../destination/errors.ts";
import type { Ledger } from "../ledger/ledger.ts";
import type { DestinationDirectory } from "../nats/destinations.ts";
import { type Releasable, releaseBlobIfDone } from "./blob-release.ts";

export interface SettlementOptions {
  ledger: Ledger;
  destinationToken: string;
  directory: DestinationDirectory;
  blobs: BlobStores;
  dead: DeadLettering;
  log: Logger;
  onSuperseded(): void;
}

export class Settlement {
  private readonly options: SettlementOptions;
  constructor(options: SettlementOptions) {
    this.options = options;
  }

  /**
   * Records `uploaded` or `superseded`, acks, and releases the blob if no destination needs it
   * now. Neither replaces a later verdict: `uploaded` is written unless the event is superseded
   * or dead already (Ledger.recordUploaded), `superseded` unless it is terminal; a refused
   * outcome is only acked.
   */
  async finish(msg: JsMsg, entry: NewLedgerEntry, delivery: { event: { blob: BlobLocation }; eventsSubject: string }) {
    const token = this.options.destinationToken;
    const recorded =
      entry.state === "uploaded"
        ? await this.options.ledger.recordUploaded(token, entry)
        : await this.options.ledger.recordUnlessTerminal(token, entry);
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
    if (entry.state === "superseded") this.options.onSuperseded();
    // A plain ack: if it is lost, the redelivery finds the terminal ledger entry and acks again.
    msg.ack();
    await this.releaseBlob({ ref: entry, blob: delivery.event.blob, eventsSubject: delivery.eventsSubject });
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
   * An event its subject does not vouch for: dead at once, touching no destination. It deletes no
   * blob: the one its subject and id name may be another event's (ids are the producer's to
   * choose), so what it staged is left to the sweeper.
   */
  async reject(msg: JsMsg, r: Rejection): Promise<void> {
    this.options.log.warn(
      { seq: msg.info.streamSequence, subject: msg.subject, reason: r.reason },
      "invalid event: dead-lettering",
    );
    await this.options.dead.reject(msg, r);
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
