/**
 * The live feed of the operations page without servers: a fake hub hands it ledger changes. It
 * holds one tap while any stream is open and none after, sends each stream only its projects'
 * changes, and skips an entry whose body names another project than its key.
 */
import { type LedgerEntry, silentLogger } from "@artifact-bus/shared";
import { describe, expect, it } from "vitest";
import type { LedgerHub, Tap } from "../src/ledger-hub.ts";
import { type LiveEntry, LiveFeed } from "../src/live-feed.ts";

class FakeHub {
  readonly taps = new Set<Tap>();
  tapped = 0;
  resync: (() => void) | undefined;
  onResync(listener: () => void): void {
    this.resync = listener;
  }
  async tap(t: Tap): Promise<() => void> {
    this.tapped++;
    this.taps.add(t);
    return () => this.taps.delete(t);
  }
  change(key: string, entry: Partial<LedgerEntry>, revision = 1): void {
    for (const t of this.taps) t(key, { entry: entry as LedgerEntry, revision });
  }
}

const entry = (project: string, eventId: string, over: Partial<LedgerEntry> = {}): Partial<LedgerEntry> => ({
  project,
  run: "r1",
  eventId,
  name: "a.txt",
  destination: "s3:main",
  state: "uploading",
  attempts: 1,
  streamSeq: 7,
  updatedAt: "2026-01-01T00:00:00.000Z",
  ...over,
});

function stream(feed: LiveFeed, projects: string[]) {
  const got: LiveEntry[] = [];
  const resyncs: number[] = [];
  const joined = feed.join({
    accepts: (p) => projects.includes("*") || projects.includes(p),
    send: (e) => got.push(e),
    resync: () => resyncs.push(Date.now()),
    end: () => {},
  });
  return { got, joined, resyncs };
}

describe("LiveFeed", () => {
  it("fans one tap out to every stream, each seeing only its projects; the tap goes with the last stream", async () => {
    const hub = new FakeHub();
    const feed = new LiveFeed(hub as unknown as LedgerHub, silentLogger);
    const a = stream(feed, ["alpha"]);
    const op = stream(feed, ["*"]);
    const [leaveA, leaveOp] = await Promise.all([a.joined, op.joined]);
    expect(hub.tapped).toBe(1);
    hub.change("ev.s3_main.alpha.r1.event-aaaa1", entry("alpha", "event-aaaa1"));
    hub.change("ev.s3_main.beta.r1.event-bbbb1", entry("beta", "event-bbbb1"));
    expect(a.got.map((e) => e.eventId)).toEqual(["event-aaaa1"]);
    expect(op.got.map((e) => e.eventId)).toEqual(["event-aaaa1", "event-bbbb1"]);
    // The watch restarted after a reconnect: every stream is told to read its state again.
    hub.resync?.();
    expect([a.resyncs.length, op.resyncs.length]).toEqual([1, 1]);
    leaveA();
    expect(hub.taps.size).toBe(1);
    leaveOp();
    expect(hub.taps.size).toBe(0);
    expect(feed.size).toBe(0);
  });

  it("once the gateway stops, ends every stream, and at once one that a page opens meanwhile", async () => {
    const hub = new FakeHub();
    const feed = new LiveFeed(hub as unknown as LedgerHub, silentLogger);
    const ended: string[] = [];
    const listener = (name: string) => ({
      accepts: () => true,
      send: () => {},
      resync: () => {},
      end: () => void ended.push(name),
    });
    await feed.join(listener("open before"));
    feed.endAll();
    await feed.join(listener("opened while stopping"));
    expect(ended).toEqual(["open before", "opened while stopping"]);
  });

  it("skips an entry whose body names another project, run or id than its key", async () => {
    const hub = new FakeHub();
    const feed = new LiveFeed(hub as unknown as LedgerHub, silentLogger);
    const a = stream(feed, ["alpha"]);
    await a.joined;
    hub.change("ev.s3_main.alpha.r1.event-aaaa2", entry("beta", "event-aaaa2"));
    hub.change("ev.s3_main.beta.r1.event-bbbb2", entry("alpha", "event-bbbb2"));
    hub.change("ev.s3_main.alpha.r1.event-aaaa3", entry("alpha", "event-other"));
    hub.change("idx.event-aaaa4", entry("alpha", "event-aaaa4"));
    expect(a.got).toEqual([]);
  });
});
