/**
 * Checkpoint sets at one destination (contract/checkpoint-set.ts): each member that lands, or
 * dies, is recorded in the set's ledger record by compare-and-set; the delivery that finds the set
 * complete publishes its manifest next to the members and then moves its pointer to it, both
 * through the adapter's ordinary `upload`.
 *
 * All of it runs before the member's delivery is settled: a replica killed on the way leaves the
 * member unacknowledged, and its redelivery (which finds the member in the record) finishes the
 * work. The manifest and the pointer are written like any version of their names: in turn under
 * their key's lease (KeyOrder), fenced by beforeVisible, ordered by the set's place (the highest
 * original stream sequence among its events). A set older than the one the pointer names finds
 * the pointer's fence past its place, and leaves the pointer alone. A set that moved the pointer
 * then lets older sets go where the destination says `keepSets` (set-retention.ts).
 */
import { randomUUID } from "node:crypto";
import type { JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { DestinationConfig } from "../config/config.ts";
import {
  countEvent,
  DEFAULT_POINTER_TEMPLATE,
  isFileSet,
  isPointerName,
  isResave,
  pointerNames,
  type SetRecord,
  setManifest,
  setManifestName,
  setState,
} from "../contract/checkpoint-set.ts";
import type { ArtifactEventV1 } from "../contract/schema.ts";
import { artifactKey, eventSubject } from "../contract/subjects.ts";
import type { Destination } from "../destination/destination.ts";
import { describeError, PermanentError, TransientError } from "../destination/errors.ts";
import { generatedArtifact } from "../destination/generated-artifact.ts";
import type { SetLedger, SetRecordRef } from "../ledger/set-ledger.ts";
import type { LandedSet } from "./key-lease.ts";
import type { KeyOrder } from "./key-order.ts";
import { outsiderRefusal } from "./set-outsider.ts";
import { retainSets } from "./set-retention.ts";
import { UploadHeartbeat } from "./upload-heartbeat.ts";

export interface SetCompletionDeps {
  sets: SetLedger;
  destination: Destination;
  destinationToken: string;
  order: KeyOrder;
  config: DestinationConfig;
  log: Logger;
  replicaId: string;
}

/** What became of a generated write: it landed, or a newer version of its name stands. */
type WriteResult = { kind: "written"; location: string } | { kind: "superseded"; by: number };

/** One event of a set, as its delivery knows it. */
export interface SetEvent {
  event: ArtifactEventV1;
  /** Its place: its stream sequence, or for a replay the original's. */
  orderSeq: number;
}

export class SetCompletion {
  private readonly deps: SetCompletionDeps;
  constructor(deps: SetCompletionDeps) {
    this.deps = deps;
  }

  /**
   * The event landed here (or was found landed on a redelivery): records it, and when that makes
   * the set complete and nobody published it yet, publishes the manifest and moves the pointer.
   * `msg` is kept alive meanwhile. Throws when the work could not finish: the caller leaves the
   * delivery unsettled so that it is done again. `location` is where the member landed (kept for
   * retention, `keepSets`).
   */
  async landed(e: SetEvent, msg: JsMsg, signal: AbortSignal, location?: string): Promise<void> {
    const set = e.event.set;
    if (!set) return;
    const { event, orderSeq } = e;
    let replaced = false;
    const record = await this.deps.sets.update(this.ref(event), (cur) => {
      const next: SetRecord = { ...cur, members: { ...cur.members }, dead: { ...cur.dead } };
      replaced = false;
      if (!set.close) {
        const had = next.members[event.name];
        if (!had || had.seq < orderSeq) {
          if (had && cur.published && isResave(cur, event.name)) {
            // A set of one file saved again: published again below, at its new place (a redelivery
            // finds `republish` and does it, if this replica dies first).
            next.republish = orderSeq;
            delete next.removed;
          } else replaced = had !== undefined && cur.published !== undefined;
          next.members[event.name] = {
            name: event.name,
            size: event.blob.size,
            sha256: event.blob.sha256,
            eventId: event.id,
            seq: orderSeq,
            producer: event.producer,
            ...(location ? { location } : {}),
          };
        }
      }
      const dead = next.dead[event.name];
      if (dead && dead.seq <= orderSeq) delete next.dead[event.name]; // a replay that landed heals it
      return unchanged(cur, countEvent(next, set, orderSeq));
    });
    if (setState(record) !== "complete") return;
    if (!record.published || record.republish !== undefined) return this.publish(record, event, msg, signal);
    // A new version of a member that passed `refusal` just before the set was published: its
    // bytes replaced the ones the manifest vouches for, so the manifest follows (at the set's
    // new place); the pointer stays where it is.
    if (replaced) await this.publish(record, event, msg, signal, { manifestOnly: true });
  }

  /**
   * Why `e` must not be uploaded here, or undefined when it may; `failsSet` when the refusal
   * fails its set (`died`). Refused: a name this destination writes sets' pointers under (a
   * producer that checks name rules refuses it first); a new member, or a new version of a
   * member, of a set already published here (its manifest vouches for its members' bytes and the
   * pointer may name it; replacing one would leave the pointer on a set its manifest no longer
   * matches), which leaves the set as published. The version the set lists, redelivered, may go,
   * and so may a newer version of a set of one file (isResave: `landed` publishes it again).
   */
  async refusal(e: SetEvent): Promise<{ reason: string; failsSet: boolean } | undefined> {
    const { event, orderSeq } = e;
    const q = JSON.stringify;
    const template = this.deps.config.setPointer ?? DEFAULT_POINTER_TEMPLATE;
    if (isPointerName(event.name, template)) {
      const reason = `${q(event.name)} is reserved at ${this.deps.destination.name}: it writes checkpoint sets' pointers under such names (setPointer ${q(template)})`;
      return { reason, failsSet: true };
    }
    const set = event.set;
    if (!set || set.close) return undefined;
    const record = await this.deps.sets.get(this.ref(event));
    if (!record?.published) return undefined;
    const listed = record.members[event.name];
    if (listed && (listed.seq >= orderSeq || isResave(record, event.name))) return undefined;
    const what = listed ? `a new version of its member ${q(event.name)}` : "a new member";
    const reason = `set ${q(set.name)} is complete at ${this.deps.destination.name} (its manifest is published): ${what} cannot join it; log the new files as a new set`;
    return { reason, failsSet: false };
  }

  /** The event ended dead here: the set is failed here, naming it and why. */
  async died(e: SetEvent, reason: string): Promise<void> {
    const set = e.event.set;
    if (!set) return;
    const { event, orderSeq } = e;
    await this.deps.sets.update(this.ref(event), (cur) => {
      const landed = cur.members[event.name];
      if (landed && landed.seq >= orderSeq) return undefined; // a newer version of it landed
      const dead = { ...cur.dead, [event.name]: { name: event.name, eventId: event.id, seq: orderSeq, reason } };
      return unchanged(cur, countEvent({ ...cur, dead }, set, orderSeq));
    });
  }

  private async publish(
    record: SetRecord,
    like: ArtifactEventV1,
    msg: JsMsg,
    signal: AbortSignal,
    o: { manifestOnly?: boolean } = {},
  ): Promise<void> {
    const log = this.deps.log.child({ set: record.set, project: record.project, run: record.run });
    // A set of one file has no manifest (it would lie under the file): its pointer is all there is.
    const manifestBytes = Buffer.from(`${JSON.stringify(setManifest(record), null, 2)}\n`);
    const manifest = isFileSet(record)
      ? undefined
      : await this.write(like, setManifestName(record.set), manifestBytes, record.place, msg, signal);
    if (o.manifestOnly) {
      log.warn({ member: like.name }, "a member of a published set was replaced: manifest published again");
      return;
    }
    // Each pointer holds the set's name: what a reader (and Composer's loader, reading its
    // `.symlink` file) takes as the path of the checkpoint.
    const names = pointerNames(record, this.deps.config.setPointer ?? DEFAULT_POINTER_TEMPLATE);
    const moved: Record<string, string> = {};
    for (const name of names) {
      const pointer = await this.write(like, name, Buffer.from(record.set), record.place, msg, signal);
      if (pointer.kind === "written") moved[name] = pointer.location;
      else log.info({ pointer: name, by: pointer.by }, "set complete; the pointer names a newer set");
    }
    const first = names[0] ?? "";
    const pointerMoved = Object.keys(moved).length > 0;
    if (pointerMoved) log.info({ pointers: Object.values(moved) }, "set complete: manifest published, pointer moved");
    const published = await this.deps.sets.update(this.ref(like), (cur) => {
      // Published already, unless due again at this place (a later save's own delivery does its own).
      if (cur.published && (cur.republish === undefined || cur.republish > record.place)) return undefined;
      const { republish: _, ...rest } = cur;
      // Where each pointer landed: written here, else as recorded before (a write found done says no location).
      const pointers = {
        ...cur.published?.pointers,
        ...Object.fromEntries(Object.entries(moved).filter(([, l]) => l)),
      };
      return {
        ...rest,
        published: {
          manifest: manifest?.kind === "written" ? manifest.location : (cur.published?.manifest ?? ""),
          pointer: pointers[first] ?? first,
          pointerMoved: pointerMoved || cur.published?.pointerMoved === true,
          pointers,
        },
      };
    });
    if (!pointerMoved || this.deps.config.keepSets === undefined) return;
    // The member's delivery does not wait on retention's outcome: a set left behind is tried again
    // after the next set completes.
    await retainSets(this.deps, published, signal).catch((err: unknown) =>
      log.warn({ err: describeError(err) }, "keepSets: retention failed; the next set tries again"),
    );
  }

  /**
   * Writes generated bytes under `name` as version `place` of it: in turn for its key, under its
   * lease, through the adapter's upload (whose beforeVisible confirms the lease).
   */
  private async write(
    like: ArtifactEventV1,
    name: string,
    bytes: Buffer,
    place: number,
    msg: JsMsg,
    signal: AbortSignal,
  ): Promise<WriteResult> {
    const id = `set-${artifactKey(name)}-${place}`;
    const contentType = name.endsWith(".json") ? "application/json" : "text/plain";
    const artifact = generatedArtifact(like, { id, name, bytes, contentType, streamSeq: place });
    let orderKey: string;
    try {
      orderKey = this.deps.destination.orderKey(artifact.event);
    } catch (err) {
      throw new PermanentError(`${name} has no path at ${this.deps.destination.name}: ${(err as Error).message}`);
    }
    const ask = {
      event: artifact.event,
      orderKey,
      orderSeq: place,
      eventsSubject: eventSubject(artifact.event),
      holder: `${this.deps.replicaId}/set/${randomUUID()}`,
      cheapFirstVersion: true,
    };
    // Waiting for the name is no attempt: the member's heartbeat keeps its delivery meanwhile, and
    // stepping back would upload the member again. A holder that died frees it within a lease.
    let turn = await this.deps.order.take(ask, signal, () => msg.working());
    while (turn.kind === "later" && !signal.aborted)
      turn = await this.deps.order.take(ask, signal, () => msg.working());
    if (turn.kind === "superseded") return turn;
    if (turn.kind === "later") throw new TransientError(`${name} is busy at ${this.deps.destination.name}`);
    if (turn.kind === "done") return { kind: "written", location: "" };
    const ac = new AbortController();
    const stopOuter = () => ac.abort(signal.reason);
    signal.addEventListener("abort", stopOuter, { once: true });
    const noRecord = { slow: async () => true, progress: async () => true };
    const heartbeat = new UploadHeartbeat(
      () => msg.working(),
      turn.lease,
      this.deps.config,
      ac,
      this.deps.log,
      noRecord,
    );
    try {
      const receipt = await this.deps.destination.upload(artifact, heartbeat.context(1, this.deps.log));
      return { kind: "written", location: receipt.location };
    } finally {
      heartbeat.stop();
      signal.removeEventListener("abort", stopOuter);
      // The fence stays at `place`: an older set's write finds it and leaves the name alone.
      await turn.lease.release().catch(() => undefined);
    }
  }

  /**
   * Why `event` must not replace the member of `landed` here (set-outsider.ts), or undefined;
   * never where a new version replaces nothing (keepsVersions).
   */
  async outsider(event: ArtifactEventV1, landed: LandedSet | undefined): Promise<string | undefined> {
    if (this.deps.destination.keepsVersions) return undefined;
    const destination = { name: this.deps.destination.name, token: this.deps.destinationToken };
    return outsiderRefusal(this.deps.sets, destination, event, landed);
  }

  private ref(event: ArtifactEventV1): SetRecordRef {
    return {
      destinationToken: this.deps.destinationToken,
      destination: this.deps.destination.name,
      project: event.project,
      run: event.run,
      set: event.set?.name ?? "",
    };
  }
}

/** `next`, or undefined when it says nothing `cur` does not: no write. */
function unchanged(cur: SetRecord, next: SetRecord): SetRecord | undefined {
  const strip = ({ updatedAt: _, ...r }: SetRecord) => JSON.stringify(r);
  return strip(cur) === strip(next) ? undefined : next;
}
