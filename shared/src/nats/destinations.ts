/**
 * Which destinations exist and which of them take a given event subject. The consumers on the
 * ARTIFACTS stream are the source of truth, so publishers and uploaders agree without sharing
 * config files.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
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

/** Lists destination consumers, cached for `ttlMs` since topology changes rarely. */
export class DestinationDirectory {
  private readonly jsm: JetStreamManager;
  private readonly ttlMs: number;
  private cache: { at: number; list: DestinationFilter[] } | undefined;
  private refreshing: Promise<DestinationFilter[]> | undefined;

  constructor(jsm: JetStreamManager, ttlMs = 5_000) {
    this.jsm = jsm;
    this.ttlMs = ttlMs;
  }

  async all(): Promise<DestinationFilter[]> {
    if (this.cache && Date.now() - this.cache.at < this.ttlMs) return this.cache.list;
    // Callers arriving while the list is being read share that read.
    this.refreshing ??= this.list().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async list(): Promise<DestinationFilter[]> {
    const list: DestinationFilter[] = [];
    for await (const ci of this.jsm.consumers.list(EVENTS_STREAM)) {
      const token = destinationFromConsumer(ci.name);
      if (token) list.push({ token, filterSubject: ci.config.filter_subject ?? ">" });
    }
    this.cache = { at: Date.now(), list };
    return list;
  }

  /** Tokens of the destinations whose filter takes `subject`. */
  async matching(subject: string): Promise<string[]> {
    return (await this.all()).filter((d) => subjectMatches(d.filterSubject, subject)).map((d) => d.token);
  }
}
