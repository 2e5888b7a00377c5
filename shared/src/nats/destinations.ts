/**
 * Which destinations exist and which of them take a given event subject. The consumers on the
 * ARTIFACTS stream are the source of truth, so publishers and uploaders agree without sharing
 * config files.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { destinationFromConsumer, EVENTS_STREAM } from "./topology-names.ts";

export interface DestinationFilter {
  /** e.g. `s3_main` */
  token: string;
  filterSubject: string;
}

/** NATS subject matching with `*` (one token) and `>` (the rest). */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split(".");
  const s = subject.split(".");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === ">") return s.length > i;
    if (i >= s.length || (f[i] !== "*" && f[i] !== s[i])) return false;
  }
  return f.length === s.length;
}

interface ConsumerListPage {
  total: number;
  consumers?: { name: string; config: { filter_subject?: string } }[];
  missing?: string[];
}

/** Lists destination consumers, cached for `ttlMs` since topology changes rarely. */
export class DestinationDirectory {
  private readonly nc: NatsConnection;
  private readonly ttlMs: number;
  private cache: { at: number; list: DestinationFilter[] } | undefined;
  private refreshing: Promise<DestinationFilter[]> | undefined;

  constructor(nc: NatsConnection, ttlMs = 5_000) {
    this.nc = nc;
    this.ttlMs = ttlMs;
  }

  async all(): Promise<DestinationFilter[]> {
    if (this.cache && Date.now() - this.cache.at < this.ttlMs) return this.cache.list;
    // Callers arriving while the list is being read share that read.
    this.refreshing ??= this.list().finally(() => {
      this.refreshing = undefined;
    });
    try {
      return await this.refreshing;
    } catch (err) {
      // NATS away (a node restarting): the last list is better than failing a trainer's logFile.
      if (this.cache) return this.cache.list;
      throw err;
    }
  }

  private async list(): Promise<DestinationFilter[]> {
    const list: DestinationFilter[] = [];
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
        const token = destinationFromConsumer(ci.name);
        if (token) list.push({ token, filterSubject: ci.config.filter_subject ?? ">" });
      }
      offset += page.consumers?.length ?? 0;
      if (!page.consumers?.length || offset >= page.total) break;
    }
    this.cache = { at: Date.now(), list };
    return list;
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

  /** Tokens of the destinations whose filter takes `subject`. */
  async matching(subject: string): Promise<string[]> {
    return (await this.all()).filter((d) => subjectMatches(d.filterSubject, subject)).map((d) => d.token);
  }
}
