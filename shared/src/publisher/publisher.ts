/**
 * What a TypeScript trainer uses. `logFile` stages the file and resolves as soon as the staged
 * bytes are immutable, with a handle whose `durable` promise resolves at the PubAck; hashing and
 * publishing go on in the background. It never waits for a destination; `flush` does, like
 * Composer's close.
 */
import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import { Kvm } from "@nats-io/kv";
import { blobKey } from "../contract/blob-key.ts";
import { setClose } from "../contract/checkpoint-set.ts";
import { destinationFromToken } from "../contract/destination-name.ts";
import { checkNameRules, type NameRules } from "../contract/name-rules.ts";
import { checkArtifactName, checkLevel, checkSubjectToken } from "../contract/names.ts";
import type { ArtifactEventV1 } from "../contract/schema.ts";
import { eventSubject } from "../contract/subjects.ts";
import { Ledger } from "../ledger/ledger.ts";
import { type EntryListener, FlushTimeoutError } from "../ledger/ledger-waiter.ts";
import { jetStreamManagerWhenAvailable } from "../nats/availability.ts";
import { DestinationDirectory } from "../nats/destinations.ts";
import { LEDGER_BUCKET } from "../nats/topology-names.ts";
import { EventPublisher } from "./event-publisher.ts";
import { flushLogged } from "./flush-logged.ts";
import type { LogFileHandle, LoggedArtifact } from "./logged-artifact.ts";
import {
  type DeadArtifact,
  DeadArtifactsError,
  LogFailedError,
  NoDestinationError,
  PublishRefusedError,
  PublishUnconfirmedError,
} from "./publish-errors.ts";
import type {
  ArtifactTarget,
  CloseSetRequest,
  LogFileRequest,
  PublisherOptions,
  StagedBlob,
} from "./publisher-requests.ts";

export type { AwaitedEntry, EntryListener } from "../ledger/ledger-waiter.ts";
export type {
  ArtifactTarget,
  CloseSetRequest,
  LogFileHandle,
  LogFileRequest,
  LoggedArtifact,
  PublisherOptions,
  StagedBlob,
};
export {
  type DeadArtifact,
  DeadArtifactsError,
  FlushTimeoutError,
  LogFailedError,
  NoDestinationError,
  PublishRefusedError,
  PublishUnconfirmedError,
};

/**
 * The trainer's side of the bus: stages each artifact's blob, publishes its event in call order
 * per name, and keeps what is outstanding until `flush()` hears every destination's verdict.
 */
export class ArtifactPublisher {
  private readonly opts: PublisherOptions;
  private readonly directory: DestinationDirectory;
  /** Builds each event and publishes it once its blob is staged. */
  private readonly events: EventPublisher;
  private readonly ledger: Ledger;
  private readonly outstanding = new Map<string, LogFileHandle>();
  /** Per artifact name, the durable of its last logFile: versions are published in call order. */
  private readonly lastOfName = new Map<string, Promise<unknown>>();

  private constructor(opts: PublisherOptions, directory: DestinationDirectory, ledger: Ledger) {
    this.opts = opts;
    this.events = new EventPublisher(opts, directory);
    this.directory = directory;
    this.ledger = ledger;
  }

  static async create(opts: PublisherOptions): Promise<ArtifactPublisher> {
    // Fails fast, naming the problem, when the server has no JetStream; waits out an election.
    await jetStreamManagerWhenAvailable(opts.nc, opts.publishTimeoutMs ?? 30_000);
    // Direct gets name the key in the request subject, where a trainer's permissions confine
    // its reads to its own project's entries (a message get would need the whole ledger).
    const kv = await new Kvm(opts.nc).open(LEDGER_BUCKET, { allow_direct: true });
    // The hashing thread starts with the first file too large to hash inline, not here: a
    // worker (its own V8 isolate) costs the process memory that a gateway or a trainer of small
    // files never needs. Hundreds of trainers each check the destinations every 5 s (their names
    // and the topology stamp: two cheap requests) and list them in full when those changed, or
    // hourly: a full listing costs the server time in proportion to the stream, which once a
    // minute from hundreds of trainers was most of a core (bench/RESULTS.md, "Many trainers").
    // A logFile after minutes of training answers from the list it has, whatever its age, and
    // checks it behind the call instead of waiting for the check's round trips (the wait was the
    // whole of logFile's time then: bench/RESULTS.md). Safe because the list as that check found
    // it decides again before the event is published (EventPublisher.publishEvent).
    const directory = new DestinationDirectory(opts.nc, kv, {
      fullListMs: 3_600_000,
      answerStaleForMs: Number.POSITIVE_INFINITY,
      firstListTimeoutMs: opts.publishTimeoutMs ?? 30_000,
    });
    return new ArtifactPublisher(opts, directory, new Ledger(kv));
  }

  /**
   * Stages `path` and resolves as soon as the staged bytes are immutable: in link, move and
   * copy-on-write modes after a few metadata calls whatever the size, in copy mode once the
   * kernel copied the file. The caller may then delete or replace its file (see
   * {@link LogFileHandle.how} for link mode). The sha256 is computed afterwards off the event
   * loop, then the event is published: `durable` resolves at its PubAck. Versions of one name
   * are published in the order of the calls, so the last one logged wins.
   *
   * Rejects, with nothing staged or published, for an invalid name, project, run, level or
   * mode (InvalidArtifactError), a file that cannot be read, or an artifact no destination
   * takes (NoDestinationError).
   */
  async logFile(req: LogFileRequest): Promise<LogFileHandle> {
    const id = randomUUID();
    const target = await this.target({ ...req, id });
    // Checked before staging, so that bad metadata rejects here; the blob is filled in once hashed.
    const { kind } = this.opts.blobStore;
    const unhashed = { store: kind, ref: blobKey(target.project, target.run, id), size: 0, sha256: "0".repeat(64) };
    const draft = this.events.eventFor(target, {
      id,
      blob: unhashed,
      metadata: req.metadata,
      contentType: req.contentType,
      ...(req.set ? { set: { ...req.set } } : {}),
    });
    const placed = await this.opts.blobStore.place({
      path: req.path,
      project: target.project,
      run: target.run,
      id,
      mode: req.mode,
      ...(req.onStagingProgress ? { onProgress: req.onStagingProgress } : {}),
    });
    const order = `${target.project}/${target.run}/${target.name}`;
    const previous = this.lastOfName.get(order);
    const durable = (async () => {
      const blob = await placed.blob;
      // An earlier version of this name, still hashing, is published first (or fails first).
      await previous?.catch(() => undefined);
      return this.events.publishEvent(target, { ...draft, blob });
    })().then(({ duplicate: _, ...logged }) => logged);
    durable.catch(() => {}); // reported through `durable` and flush(), never as unhandled
    this.lastOfName.set(order, durable);
    void durable
      .finally(() => {
        if (this.lastOfName.get(order) === durable) this.lastOfName.delete(order);
      })
      .catch(() => {});
    const { project, run, name, subject, destinations } = target;
    const handle = { id, project, run, name, subject, destinations, how: placed.how, durable };
    this.outstanding.set(id, handle);
    return handle;
  }

  /**
   * Checks an artifact's names and says which destinations would take it; throws
   * InvalidArtifactError naming the field (for a name one of them refuses: naming it and the
   * rule, from the name rules the topology recorded), or NoDestinationError. Cheap (the destination list
   * is cached): callers that stage bytes themselves ask first, before any byte is staged.
   * `rank` (default: the publisher's) and `id` (the event's, if known: a file destination's
   * temporary name holds it) are what a destination's path may depend on besides the names.
   */
  async target(
    req: Pick<LogFileRequest, "project" | "run" | "name" | "level" | "set"> & { rank?: number; id?: string },
  ): Promise<ArtifactTarget> {
    const { rules: destinations, ...target } = await this.nameRules(req);
    // A name one of them refuses would be accepted here and die there: refuse it now, saying why.
    const rank = req.rank ?? this.opts.rank;
    const producer = rank === undefined ? {} : { rank };
    checkNameRules({ ...target, producer, ...(req.id ? { id: req.id } : {}), set: req.set }, destinations);
    return { ...target, destinations: destinations.map((d) => d.destination) };
  }

  /**
   * The destinations that would take an artifact of these names, each with the name rules the
   * topology recorded for it (absent: none recorded, no check); NoDestinationError when none
   * would. What `target` checks a name against, for a producer that must know before it logs
   * (the Python Composer drop-in: is Composer's symlink a name the destination writes pointers under?).
   */
  async nameRules(
    req: Pick<LogFileRequest, "project" | "run" | "name" | "level">,
  ): Promise<Omit<ArtifactTarget, "destinations"> & { rules: { destination: string; rules?: NameRules }[] }> {
    const project = checkSubjectToken("project", req.project);
    const run = checkSubjectToken("run", req.run);
    const name = checkArtifactName(req.name);
    const level = checkLevel(req.level ?? "fit");
    const subject = eventSubject({ project, run, level, name });
    // An event no consumer takes would never be uploaded: refuse it instead of losing it.
    const matched = await this.directory.matchingFilters(subject);
    if (matched.length === 0) {
      throw new NoDestinationError(
        `no destination takes ${project}/${run} at level ${level}; configure one and apply the topology`,
      );
    }
    const rules = matched.map((d) => ({ destination: destinationFromToken(d.token), rules: d.rules }));
    return { project, run, name, level, subject, rules };
  }

  /**
   * Closes checkpoint set `set` (rank 0, after a barrier, once every rank logged its members):
   * publishes the set's close event, `<set>/_set-close.json`, saying it has `members` members. At each
   * destination the set then completes once that many members landed there. Tracked for
   * {@link flush} like a logged file; resolves at once, the handle's `durable` at the PubAck.
   */
  async closeSet(req: CloseSetRequest): Promise<LogFileHandle> {
    const { name, set, bytes } = setClose(req.set, req.members, req.step);
    const id = randomUUID();
    const target = await this.target({ project: req.project, run: req.run, name, level: req.level, id });
    const unhashed = {
      store: this.opts.blobStore.kind,
      ref: blobKey(target.project, target.run, id),
      size: 0,
      sha256: "0".repeat(64),
    };
    // Checked before anything is staged: a bad count or set name rejects here.
    const draft = this.events.eventFor(target, { id, blob: unhashed, contentType: "application/json", set });
    const durable = (async () => {
      const blob = await this.opts.blobStore.stageStream(Readable.from([bytes]), {
        project: target.project,
        run: target.run,
        id,
        sizeHint: bytes.length,
      });
      const { duplicate: _, ...logged } = await this.events.publishEvent(target, { ...draft, blob });
      return logged;
    })();
    durable.catch(() => {});
    const { project, run, subject, destinations } = target;
    const handle: LogFileHandle = { id, project, run, name, subject, destinations, how: "copy", durable };
    this.outstanding.set(id, handle);
    return handle;
  }

  /**
   * Publishes the event of a blob already staged under `id` (the HTTP gateway streams bodies
   * into the store itself). An event the schema refuses (a content type too long, say: the
   * gateway's caller learns it only once the body is staged) and a refused publish remove the
   * blob, so a refusal leaves nothing staged; an unconfirmed one keeps it. The artifact is not
   * tracked for {@link flush}. With an id published before (within the stream's
   * duplicate window) nothing new is published and `duplicate` is true: `streamSeq` is then
   * the original event's.
   */
  async publishStaged(target: ArtifactTarget, req: StagedBlob): Promise<LoggedArtifact & { duplicate: boolean }> {
    let event: ArtifactEventV1;
    try {
      event = this.events.eventFor(target, req);
    } catch (err) {
      await this.opts.blobStore.remove(req.blob).catch(() => undefined);
      throw err;
    }
    return this.events.publishEvent(target, event);
  }

  /**
   * Waits until every artifact logged through this publisher is durable, then until each is
   * terminal (uploaded, superseded or dead) at every destination that took it. Rejects with
   * FlushTimeoutError (listing what is pending) after `timeoutMs`; once everything is terminal,
   * with LogFailedError naming each artifact whose `durable` failed (and any dead ones), or with
   * DeadArtifactsError naming each artifact that ended dead, its destination and why. A trainer
   * ending its run must learn that a checkpoint never landed; `failOnDead: false` only waits.
   * What was reported is not waited for again. `onEntry` is told each ledger entry seen
   * meanwhile (states, upload progress).
   */
  async flush({
    timeoutMs = 60_000,
    onEntry,
    failOnDead = true,
  }: {
    timeoutMs?: number;
    onEntry?: EntryListener;
    failOnDead?: boolean;
  } = {}): Promise<void> {
    const handles = [...this.outstanding.values()];
    const forget = () => {
      for (const h of handles) this.outstanding.delete(h.id);
    };
    try {
      await flushLogged(this.ledger, handles, timeoutMs, { onEntry, failOnDead, connection: this.opts.nc });
    } catch (err) {
      // Failures are reported once; what timed out is waited for again by the next flush.
      if (err instanceof LogFailedError || err instanceof DeadArtifactsError) forget();
      throw err;
    }
    forget();
  }
}
