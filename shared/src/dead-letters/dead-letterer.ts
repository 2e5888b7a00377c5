/**
 * How a delivery dies at one destination: the ledger says `dead` first, then the letter goes to
 * the DLQ, then the ledger keeps the letter's sequence and the message is terminated. A crash
 * anywhere in between is healed by the redelivery (decideStart: letterMissing), and one death gives
 * one letter however often the message comes back.
 */
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Rejection } from "../contract/admission.ts";
import { type DeadClass, isTerminal, type NewLedgerEntry } from "../contract/ledger-entry.ts";
import type { Ledger } from "../ledger/ledger.ts";
import { publishDeadLetter } from "./letters.ts";

export interface DeadLettererOptions {
  js: JetStreamClient;
  ledger: Ledger;
  destination: string;
  destinationToken: string;
  /** Whether the server takes `+TERM <reason>`; nats-server 2.9 only takes a bare `+TERM`. */
  termReasons: boolean;
  onDeadLettered(): void;
}

/** How deliveries of one destination die: ledger `dead`, letter, term, in that order. */
export class DeadLetterer {
  private readonly options: DeadLettererOptions;
  constructor(options: DeadLettererOptions) {
    this.options = options;
  }

  /**
   * Records `dead` (unless the event is terminal already: then it only acks), publishes the
   * letter, terminates. `subject` is the events subject of the artifact.
   */
  async kill(msg: JsMsg, dead: NewLedgerEntry, subject: string): Promise<void> {
    if (!(await this.options.ledger.recordUnlessTerminal(this.options.destinationToken, dead))) {
      msg.ack();
      return;
    }
    await this.send(msg, dead, subject);
  }

  /**
   * Publishes the letter of an entry recorded dead (deduplicated, so a resend after a crash is
   * harmless), records its DLQ sequence in the ledger, terminates the message.
   */
  async send(msg: JsMsg, dead: NewLedgerEntry, subject: string, tracked = true): Promise<void> {
    const dlqSeq = await publishDeadLetter(this.options.js, this.options.destinationToken, {
      destination: this.options.destination,
      reason: dead.error ?? "unknown",
      errorClass: dead.errorClass ?? "permanent",
      attempts: dead.attempts,
      streamSeq: dead.streamSeq,
      subject,
      ...(tracked ? { eventId: dead.eventId, project: dead.project, run: dead.run } : {}),
      ...(dead.replayDlqSeq !== undefined ? { replayDlqSeq: dead.replayDlqSeq } : {}),
      payload: new TextDecoder().decode(msg.data),
      failedAt: new Date().toISOString(),
    });
    // Only onto this death's own entry (or none, expired): never over an outcome recorded since.
    if (tracked) {
      await this.options.ledger.update(this.options.destinationToken, dead, (cur) =>
        cur === undefined || (cur.state === "dead" && cur.streamSeq === dead.streamSeq)
          ? { ...dead, dlqSeq }
          : undefined,
      );
    }
    this.options.onDeadLettered();
    this.terminate(msg, dead.error ?? "dead");
  }

  /**
   * An event its subject does not vouch for: dead at once, under its own identity (its stream
   * sequence). It gets a ledger entry when its id is readable and no entry stands under that id
   * yet, so a producer waiting on it gets an answer; an entry that stands is another message's
   * and is never touched (a message only ever affects itself).
   */
  async reject(msg: JsMsg, r: Rejection): Promise<void> {
    const ref =
      r.eventId !== undefined && r.project !== undefined && r.run !== undefined
        ? { project: r.project, run: r.run, eventId: r.eventId }
        : undefined;
    const dead: NewLedgerEntry = {
      project: ref?.project ?? "",
      run: ref?.run ?? "",
      eventId: ref?.eventId ?? "",
      destination: this.options.destination,
      name: "",
      streamSeq: msg.info.streamSequence,
      attempts: 0,
      state: "dead",
      error: r.reason,
      errorClass: "invalid",
    };
    const subject = r.eventsSubject ?? msg.subject;
    if (!ref) return this.send(msg, dead, subject, false);
    const seq = msg.info.streamSequence;
    let own: NewLedgerEntry | undefined;
    await this.options.ledger.update(this.options.destinationToken, ref, (cur) => {
      own = cur === undefined ? dead : cur.streamSeq === seq && cur.errorClass === "invalid" ? cur : undefined;
      return cur === undefined ? dead : undefined;
    });
    if (!own) return this.send(msg, dead, subject, false); // the id is another message's
    if (own.dlqSeq !== undefined) return this.terminate(msg, r.reason); // a redelivery: its letter is out
    await this.send(msg, dead, subject);
  }

  /**
   * Refuses a replay that cannot land (`replay`: its entry fields, with `replayDlqSeq`): the entry
   * says `dead` again with the reason, naming the replayed letter as the event's latest death
   * (`dlqSeq`); no new letter; the message is terminated. An outcome recorded meanwhile by
   * another delivery is left as it is.
   */
  async refuseReplay(
    msg: JsMsg,
    replay: Omit<NewLedgerEntry, "state" | "attempts">,
    reason: string,
    errorClass: DeadClass = "permanent",
  ): Promise<void> {
    const dlqSeq = replay.replayDlqSeq;
    const dead: NewLedgerEntry = { ...replay, state: "dead", attempts: 0, error: reason, errorClass, dlqSeq };
    await this.options.ledger.update(this.options.destinationToken, dead, (cur) =>
      !isTerminal(cur?.state) || (cur?.state === "dead" && cur.dlqSeq === dlqSeq) ? dead : undefined,
    );
    this.terminate(msg, reason);
  }

  /** Ends delivery for good: a bare `+TERM` where the server would not parse a reason. */
  terminate(msg: JsMsg, reason: string): void {
    if (this.options.termReasons) msg.term(reason.replace(/[\r\n]+/g, " ").slice(0, 200));
    else msg.term();
  }
}
