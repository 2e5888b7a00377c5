/**
 * The one idempotent function that creates or updates every JetStream object artifact-bus
 * needs. Safe to run again and from several processes at once: "already exists" races are
 * resolved by reading back and updating.
 */
import { createHash } from "node:crypto";
import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Config, DestinationConfig } from "../config/config.ts";
import { retentionOf } from "../config/retention.ts";
import { parseDestinationName } from "../contract/destination-name.ts";
import { nameRulesOf } from "../contract/name-rules.ts";
import { eventFilter, replayFilter } from "../contract/subjects.ts";
import { checkLedgerFormat, writeLedgerFormat } from "./ledger-format.ts";
import {
  blobBucket,
  blobStream,
  consumerName,
  DLQ_STREAM,
  DLQ_SUBJECTS,
  EVENTS_STREAM,
  EVENTS_SUBJECTS,
  filterRecordKey,
  LEDGER_BUCKET,
  nameRulesRecordKey,
  REPLAY_SUBJECTS,
  replayConsumerName,
  TOPOLOGY_STAMP_KEY,
} from "./topology-names.ts";

const ms = (n: number) => n * 1_000_000; // JetStream durations are nanoseconds

export interface TopologyOptions {
  stream: Config["stream"];
  destinations: DestinationConfig[];
  /**
   * Projects that stage into the object store (`staging.projects`): each gets its blob bucket
   * `artifact_blobs_<project>`. Only this operator step creates one; trainers cannot.
   */
  blobProjects?: readonly string[];
}

/**
 * Creates or updates streams, the ledger bucket, each listed project's blob bucket and one
 * consumer per destination.
 */
export async function ensureTopology(nc: NatsConnection, opts: TopologyOptions): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const { replicas, duplicateWindowMs } = opts.stream;
  const retention = retentionOf(opts.stream);
  await upsertStream(jsm, {
    name: EVENTS_STREAM,
    subjects: [EVENTS_SUBJECTS, REPLAY_SUBJECTS],
    // Limits by default: under interest retention nats-server 2.9 acks, then drops, events
    // published while it shuts down (its consumers stop first, so nothing "has interest").
    retention: opts.stream.retention === "interest" ? RetentionPolicy.Interest : RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: replicas,
    max_age: ms(retention.eventsMs),
    duplicate_window: ms(duplicateWindowMs),
    discard: DiscardPolicy.Old,
  });
  await upsertStream(jsm, {
    name: DLQ_STREAM,
    subjects: [DLQ_SUBJECTS],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: replicas,
    max_age: ms(retention.deadLettersMs),
    duplicate_window: ms(duplicateWindowMs),
  });
  const kvm = new Kvm(nc);
  // The ledger outlives the events it describes (flush() and status still answer later) and
  // the letters (a replay checks the dead entry): see retention.ts. Direct gets are how trainers
  // read it: their request subject names the key, so permissions scope them per project.
  await raceSafe(jsm, `KV_${LEDGER_BUCKET}`, () =>
    kvm.create(LEDGER_BUCKET, {
      history: 1,
      storage: StorageType.File,
      replicas,
      ttl: retention.ledgerMs,
      allow_direct: true,
    }),
  );
  await keepMaxAge(jsm, `KV_${LEDGER_BUCKET}`, retention.ledgerMs);
  const ledger = await kvm.open(LEDGER_BUCKET);
  // Refuses a ledger this release cannot read (a newer release's, or one needing migration);
  // numbers one it reads as it is. Written on every run: like every ledger key it expires with
  // the bucket's TTL, and each run starts that again.
  await checkLedgerFormat(ledger);
  await writeLedgerFormat(ledger);
  // A backstop behind the sweeper; it also clears the delete markers that blob removal leaves
  // (it may not purge: see NatsBlobStore).
  for (const project of opts.blobProjects ?? []) {
    await ensureBlobBucket(nc, jsm, project, replicas, retention.blobBucketMs);
  }
  let changed = false;
  for (const d of opts.destinations) {
    // The record first: after a successful apply it is never older than the consumer.
    const token = parseDestinationName(d.name).token;
    const filter = eventFilter(d.filter.project, d.filter.run, d.filter.level);
    const rules = JSON.stringify(nameRulesOf(d));
    const recordedRules = await ledger.get(nameRulesRecordKey(token));
    if (recordedRules?.operation !== "PUT" || recordedRules.string() !== rules) {
      await ledger.put(nameRulesRecordKey(token), rules);
    }
    const recorded = await ledger.get(filterRecordKey(token));
    if (recorded?.operation !== "PUT" || recorded.string() !== filter) await ledger.put(filterRecordKey(token), filter);
    changed = (await upsertConsumer(jsm, d)) || changed;
  }
  // After the consumers: whoever reads the new stamp and lists them sees the new filters. The
  // stamp names this config's filters; a changed one, or an added or removed destination (which
  // CONSUMER.NAMES also shows), rewrites it. It may expire with the ledger's TTL: readers then
  // see it absent, list once, and go on checking.
  const stamp = createHash("sha256")
    .update(
      JSON.stringify(
        // Name rules too: a publisher that cached them learns of a change at its next check.
        opts.destinations.map((d) => [
          d.name,
          eventFilter(d.filter.project, d.filter.run, d.filter.level),
          JSON.stringify(nameRulesOf(d)),
        ]),
      ),
    )
    .digest("hex")
    .slice(0, 16);
  const current = await ledger.get(TOPOLOGY_STAMP_KEY);
  if (changed || current?.operation !== "PUT" || current.string() !== stamp)
    await ledger.put(TOPOLOGY_STAMP_KEY, stamp);
}

/** Creates a project's blob bucket, or brings its max age up to date. */
async function ensureBlobBucket(
  nc: NatsConnection,
  jsm: JetStreamManager,
  project: string,
  replicas: number,
  maxAgeMs: number,
): Promise<void> {
  await raceSafe(jsm, blobStream(project), () =>
    new Objm(nc).create(blobBucket(project), { storage: StorageType.File, replicas, ttl: ms(maxAgeMs) }),
  );
  await keepMaxAge(jsm, blobStream(project), maxAgeMs);
}

async function upsertStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }) {
  const existing = await jsm.streams.info(config.name).catch(notFoundAsNull);
  if (!existing) {
    try {
      await jsm.streams.add(config);
      return;
    } catch (err) {
      // A concurrent creator may have won ("already in use", or "subjects overlap" for the
      // same stream): if the stream exists now, update it like any existing one.
      if (!(await jsm.streams.info(config.name).catch(notFoundAsNull))) throw err;
    }
  }
  // Retention and storage cannot change on a live stream; the rest can.
  const { retention: _r, storage: _s, ...mutable } = config;
  await jsm.streams.update(config.name, mutable);
}

/** Creates or updates a destination's consumers; true when its events consumer's filter is new or changed. */
async function upsertConsumer(jsm: JetStreamManager, d: DestinationConfig): Promise<boolean> {
  const token = parseDestinationName(d.name).token;
  const common = {
    ack_policy: AckPolicy.Explicit,
    // A destination takes events from its creation on; older events may already have released
    // their blobs.
    deliver_policy: DeliverPolicy.New,
    ack_wait: ms(d.ackWaitMs),
    // Unlimited: waiting (for a key, a closed breaker, a restart) redelivers without being an
    // attempt. The runtime counts attempts in the ledger and dead-letters at maxDeliver itself,
    // with the reason, so the server never drops a message into limbo.
    max_deliver: -1,
  };
  const filterChanged = await upsertOneConsumer(jsm, consumerName(token), {
    ...common,
    filter_subject: eventFilter(d.filter.project, d.filter.run, d.filter.level),
    max_ack_pending: Math.max(1000, d.concurrency * 64),
    description: `artifact-bus destination ${d.name}`,
  });
  await upsertOneConsumer(jsm, replayConsumerName(token), {
    ...common,
    filter_subject: replayFilter(token),
    max_ack_pending: 1000,
    description: `artifact-bus DLQ replays for ${d.name}`,
  });
  return filterChanged;
}

/** Creates or updates one consumer; true when it is new or its filter changed. */
async function upsertOneConsumer(jsm: JetStreamManager, name: string, cfg: Partial<ConsumerConfig>): Promise<boolean> {
  const config = { durable_name: name, ...cfg };
  let existing = await jsm.consumers.info(EVENTS_STREAM, name).catch(notFoundAsNull);
  if (!existing) {
    try {
      await jsm.consumers.add(EVENTS_STREAM, config);
      return true;
    } catch (err) {
      existing = await jsm.consumers.info(EVENTS_STREAM, name).catch(notFoundAsNull);
      if (!existing) throw err;
    }
  }
  const { durable_name: _d, deliver_policy: _p, ...mutable } = config;
  await jsm.consumers.update(EVENTS_STREAM, name, mutable);
  return existing.config.filter_subject !== config.filter_subject;
}

/** Kvm/Objm.create leave an existing bucket's max age as it was: a changed one is applied here. */
async function keepMaxAge(jsm: JetStreamManager, stream: string, maxAgeMs: number): Promise<void> {
  const info = await jsm.streams.info(stream);
  if (info.config.max_age !== ms(maxAgeMs)) await jsm.streams.update(stream, { ...info.config, max_age: ms(maxAgeMs) });
}

/**
 * Kvm/Objm.create are idempotent for an identical config, but a concurrent creator may win the
 * race ("already in use", "subjects overlap"): if the bucket's stream exists now, all is well.
 */
async function raceSafe<T>(jsm: JetStreamManager, stream: string, create: () => Promise<T>): Promise<void> {
  try {
    await create();
  } catch (err) {
    if (!(await jsm.streams.info(stream).catch(notFoundAsNull))) throw err;
  }
}

function notFoundAsNull(err: unknown): null {
  if (err instanceof JetStreamApiError && err.status === 404) return null;
  throw err;
}
