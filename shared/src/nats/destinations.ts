/**
 * Which destinations exist and which of them take a given event subject. The consumers on the
 * ARTIFACTS stream are the source of truth, so publishers and uploaders agree without sharing
 * config files.
 */
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { type NameRules, parseNameRules } from "../contract/name-rules.ts";
import { subjectMatches } from "./subject-match.ts";
import {
  destinationFromConsumer,
  EVENTS_STREAM,
  filterRecordKey,
  nameRulesRecordKey,
  TOPOLOGY_STAMP_KEY,
} from "./topology-names.ts";

export interface DestinationFilter {
  /** e.g. `s3_main` */
  token: string;
  filterSubject: string;
  /** The name rules the topology recorded (`rules.<token>`); absent when none is (no check). */
  rules?: NameRules;
}

interface ConsumerListPage {
  total: number;
  consumers?: { name: string; config: { filter_subject?: string } }[];
  missing?: string[];
}

export interface DirectoryOptions {
  /** How long a listing is used before it is checked again (default 5 s). */
  ttlMs?: number;
  /**
   * How long a listing is trusted while its check finds nothing changed, before a full listing
   * anyway (default: ttlMs, i.e. always list in full). A full listing (CONSUMER.LIST) costs the
   * server time in proportion to the subjects in the stream, as it counts each consumer's
   * pending messages, for each of hundreds of trainers (bench/RESULTS.md, "Many trainers: profile
   * and ceiling"). The check costs a small constant: the consumers'
   * names (CONSUMER.NAMES: a destination added or removed) and the revision of the topology
   * stamp that ensureTopology rewrites when it changes a filter (TOPOLOGY_STAMP_KEY). Only a
   * consumer changed by hand, without ensureTopology, waits for the full listing.
   */
  fullListMs?: number;
  /**
   * How long past ttlMs a listing is still answered at once, while its check runs behind the
   * caller (default 0: a caller past ttlMs waits for the check). A trainer logs a checkpoint
   * after minutes of training, when its listing is always past its ttl: without this, every such
   * logFile waited for the check's two round trips (milliseconds on a busy server). Only for
   * callers that check again with {@link settled} before they act on the answer (the publisher,
   * before it publishes: Infinity there); an uploader deciding whether a blob may be released
   * must never miss a destination added meanwhile.
   */
  answerStaleForMs?: number;
  /**
   * How long the first listing is waited for while NATS, or the leader of a destination
   * consumer's group, is away (default 30 s, as a publish waits out a reconnect). Once a list was
   * read, a failed refresh keeps using it instead.
   */
  firstListTimeoutMs?: number;
}

/** Lists destination consumers, cached since topology changes rarely. */
export class DestinationDirectory {
  private readonly nc: NatsConnection;
  private readonly ledger: KV;
  private readonly ttlMs: number;
  private readonly fullListMs: number;
  private readonly firstListTimeoutMs: number;
  private readonly answerStaleForMs: number;
  private cache: { at: number; fullUntil: number; names: string; stamp: string; list: DestinationFilter[] } | undefined;
  private refreshing: Promise<DestinationFilter[]> | undefined;
  /** A check to start at the next turn of the event loop (checkSoon). */
  private checkDue: NodeJS.Immediate | undefined;
  /** False once the server refused CONSUMER.NAMES (a permissions file from before it was granted). */
  private namesAllowed = true;

  /** `ledger`: the ledger bucket, where ensureTopology keeps the topology stamp and filter records. */
  constructor(nc: NatsConnection, ledger: KV, options: DirectoryOptions = {}) {
    this.nc = nc;
    this.ledger = ledger;
    this.ttlMs = options.ttlMs ?? 5_000;
    this.fullListMs = Math.max(this.ttlMs, options.fullListMs ?? this.ttlMs);
    this.firstListTimeoutMs = options.firstListTimeoutMs ?? 30_000;
    this.answerStaleForMs = options.answerStaleForMs ?? 0;
  }

  async all(): Promise<DestinationFilter[]> {
    const age = this.cache ? Date.now() - this.cache.at : Number.POSITIVE_INFINITY;
    if (this.cache && age < this.ttlMs) return this.cache.list;
    if (this.cache && age < this.ttlMs + this.answerStaleForMs) {
      this.checkSoon();
      return this.cache.list;
    }
    const deadline = Date.now() + this.firstListTimeoutMs;
    for (let wait = 100; ; wait = Math.min(wait * 2, 2_000)) {
      try {
        return await this.refreshShared();
      } catch (err) {
        // NATS away (a node restarting): the last list is better than failing a trainer's logFile.
        if (this.cache) return this.cache.list;
        // No list yet: wait for one, as a publish waits out a reconnect. A refusal stays one.
        const refused = /permission|authorization/i.test((err as Error).message);
        if (refused || this.nc.isClosed() || Date.now() + wait > deadline) throw err;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /**
   * The list once the check in progress (if any) is done: what an answer given from an older
   * list (answerStaleForMs) turned out to be. Never fails while a list was read once.
   */
  async settled(): Promise<DestinationFilter[]> {
    if (this.checkDue) {
      clearImmediate(this.checkDue);
      this.checkDue = undefined;
      void this.refreshShared().catch(() => {});
    }
    if (this.refreshing) await this.refreshing.catch(() => undefined);
    return this.all();
  }

  /**
   * Starts the check of a list answered past its ttl once the caller has its answer: building
   * the check's requests cost a trainer's logFile a millisecond or two on a loaded machine. A
   * failed check keeps the list, as in all(); the next caller past the ttl tries again.
   */
  private checkSoon(): void {
    if (this.refreshing || this.checkDue) return;
    this.checkDue = setImmediate(() => {
      this.checkDue = undefined;
      void this.refreshShared().catch(() => {});
    });
  }

  /** The check in progress, or a new one: callers arriving while the list is being read share that read. */
  private refreshShared(): Promise<DestinationFilter[]> {
    this.refreshing ??= this.refresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /**
   * The cached list while the consumers' names and the topology stamp still stand; else the
   * destinations from their names and the filters ensureTopology recorded; a full listing when
   * a record is missing, or once fullListMs has passed.
   */
  private async refresh(): Promise<DestinationFilter[]> {
    const cache = this.cache;
    if (!this.namesAllowed || (cache && Date.now() >= cache.fullUntil)) return this.list();
    // The stamp first: a filter changed meanwhile shows at the next check.
    const stamp = await this.stamp();
    const names = await this.names().catch((err: Error) => {
      if (!/permission/i.test(err.message)) throw err;
      this.namesAllowed = false;
      return undefined;
    });
    if (names === undefined) return this.list();
    const joined = [...names].sort().join(" ");
    if (cache && joined === cache.names && stamp === cache.stamp) {
      cache.at = Date.now();
      return cache.list;
    }
    const list = await this.fromRecords(names);
    if (!list) return this.list();
    const now = Date.now();
    this.cache = { at: now, fullUntil: cache?.fullUntil ?? this.nextFullListing(now), names: joined, stamp, list };
    return list;
  }

  /** The destinations of these consumer names, from the filters ensureTopology recorded; undefined if one is missing. */
  private async fromRecords(names: string[]): Promise<DestinationFilter[] | undefined> {
    const tokens = names.map(destinationFromConsumer).filter((t): t is string => t !== undefined);
    const filters = await Promise.all(tokens.map((t) => this.ledgerValue(filterRecordKey(t)))).catch((err: Error) => {
      if (/permission/i.test(err.message)) return [undefined]; // may not read the ledger: list
      throw err;
    });
    if (filters.some((f) => f === undefined)) return undefined;
    const rules = await this.rulesOf(tokens);
    return tokens.map((token, i) => ({ token, filterSubject: (filters[i] as { data: string }).data, ...rules[i] }));
  }

  /** The recorded name rules of each token, `{}` where there is none or it cannot be read. */
  private async rulesOf(tokens: string[]): Promise<{ rules?: NameRules }[]> {
    return Promise.all(
      tokens.map(async (t) => {
        const value = await this.ledgerValue(nameRulesRecordKey(t)).catch(() => undefined);
        const rules = value && parseNameRules(value.data);
        return rules ? { rules } : {};
      }),
    );
  }

  /** Spread over a quarter of the period: trainers started together do not list together. */
  private nextFullListing(now: number): number {
    return now + this.fullListMs * (1 + Math.random() / 4);
  }

  private async list(): Promise<DestinationFilter[]> {
    // Read first: a filter changed while the consumers are listed shows at the next check.
    const stamp = await this.stamp();
    const list: DestinationFilter[] = [];
    const names: string[] = [];
    for (let offset = 0; ; ) {
      const page = await this.page(offset);
      // In a cluster, a consumer whose group has no leader (a node restarting) is left out of
      // the page and named in `missing`. A list without a destination would let a blob be
      // released before that destination is done, so an incomplete list is a failure, and the
      // last complete one stays in use.
      if (page.missing?.length) {
        throw new Error(`${EVENTS_STREAM} consumers ${page.missing.join(", ")} did not answer; try again`);
      }
      for (const ci of page.consumers ?? []) {
        names.push(ci.name);
        const token = destinationFromConsumer(ci.name);
        if (token) list.push({ token, filterSubject: ci.config.filter_subject ?? ">" });
      }
      offset += page.consumers?.length ?? 0;
      if (!page.consumers?.length || offset >= page.total) break;
    }
    const rules = await this.rulesOf(list.map((d) => d.token));
    const withRules = list.map((d, i) => ({ ...d, ...rules[i] }));
    const now = Date.now();
    this.cache = {
      at: now,
      fullUntil: this.nextFullListing(now),
      names: names.sort().join(" "),
      stamp,
      list: withRules,
    };
    return withRules;
  }

  /**
   * The topology stamp's revision ("none" while it is absent; it expires with the ledger's TTL).
   * A producer not allowed to read the ledger gets "unreadable" every time: its listings then
   * age out by fullListMs alone.
   */
  private async stamp(): Promise<string> {
    try {
      const value = await this.ledgerValue(TOPOLOGY_STAMP_KEY);
      return value ? String(value.seq) : "none";
    } catch (err) {
      if (/permission/i.test((err as Error).message)) return "unreadable";
      throw err;
    }
  }

  /** A ledger entry's value and revision; undefined while it is absent or deleted. */
  private async ledgerValue(key: string): Promise<{ data: string; seq: number } | undefined> {
    const e = await this.ledger.get(key);
    return e?.operation === "PUT" ? { data: e.string(), seq: e.revision } : undefined;
  }

  /** The names of the stream's consumers: cheap, no pending counts. */
  private async names(): Promise<string[]> {
    const names: string[] = [];
    for (let offset = 0; ; ) {
      const reply = await this.nc.request(`$JS.API.CONSUMER.NAMES.${EVENTS_STREAM}`, JSON.stringify({ offset }), {
        timeout: 5_000,
      });
      const page = reply.json<{ total: number; consumers?: string[]; error?: { description: string } }>();
      if (page.error) throw new Error(`naming ${EVENTS_STREAM} consumers: ${page.error.description}`);
      names.push(...(page.consumers ?? []));
      offset += page.consumers?.length ?? 0;
      if (!page.consumers?.length || offset >= page.total) break;
    }
    return names;
  }

  /** One page of CONSUMER.LIST, raw: the client's lister hides `missing`. */
  private async page(offset: number): Promise<ConsumerListPage> {
    const reply = await this.nc.request(`$JS.API.CONSUMER.LIST.${EVENTS_STREAM}`, JSON.stringify({ offset }), {
      timeout: 5_000,
    });
    const page = reply.json<ConsumerListPage & { error?: { code: number; description: string } }>();
    if (page.error) throw new Error(`listing ${EVENTS_STREAM} consumers: ${page.error.description}`);
    return page;
  }

  /** The destinations whose filter takes `subject`, once the check in progress is done (see settled). */
  async settledMatching(subject: string): Promise<DestinationFilter[]> {
    return (await this.settled()).filter((d) => subjectMatches(d.filterSubject, subject));
  }

  /** Tokens of the destinations whose filter takes `subject`. */
  async matching(subject: string): Promise<string[]> {
    return (await this.matchingFilters(subject)).map((d) => d.token);
  }

  /** The destinations whose filter takes `subject`, with their name rules where recorded. */
  async matchingFilters(subject: string): Promise<DestinationFilter[]> {
    return (await this.all()).filter((d) => subjectMatches(d.filterSubject, subject));
  }
}
