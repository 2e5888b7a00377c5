/**
 * Each destination's activity without servers: a fake hub hands it ledger changes and a fake
 * clock moves. It keeps the newest error per destination and project (a token sees only its
 * projects'), and counts the uploads that landed in the last minute with their bytes, each
 * version once.
 */
import { type LedgerEntry, silentLogger } from "@artifact-bus/shared";
import { describe, expect, it } from "vitest";
import { DestinationActivity } from "../src/destination-activity.ts";
import type { LedgerHub, Tap } from "../src/ledger-hub.ts";

class FakeHub {
  readonly taps = new Set<Tap>();
  async tap(t: Tap): Promise<() => void> {
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

async function started() {
  const hub = new FakeHub();
  const clock = { now: 1_000_000 };
  const activity = new DestinationActivity(hub as unknown as LedgerHub, silentLogger, () => clock.now);
  await activity.start();
  return { hub, clock, activity };
}

describe("DestinationActivity", () => {
  it("keeps the newest error per destination and project; a token sees only its projects'", async () => {
    const { hub, activity } = await started();
    hub.change(
      "ev.s3_main.alpha.r1.event-aaaa5",
      entry("alpha", "event-aaaa5", { state: "pending", error: "ECONNREFUSED", updatedAt: "2026-01-01T00:00:01Z" }),
    );
    hub.change(
      "ev.s3_main.beta.r1.event-bbbb5",
      entry("beta", "event-bbbb5", {
        state: "dead",
        error: "AccessDenied",
        errorClass: "permanent",
        updatedAt: "2026-01-01T00:00:02Z",
      }),
    );
    // An entry whose body names another project than its key is no one's error.
    hub.change("ev.s3_main.alpha.r1.event-cccc5", entry("beta", "event-cccc5", { state: "dead", error: "forged" }));
    expect(activity.lastError("s3:main", () => true)).toMatchObject({ message: "AccessDenied", project: "beta" });
    expect(activity.lastError("s3:main", (p) => p === "alpha")).toEqual({
      message: "ECONNREFUSED",
      at: "2026-01-01T00:00:01Z",
      eventId: "event-aaaa5",
      project: "alpha",
    });
    expect(activity.lastError("s3:main", (p) => p === "gamma")).toBeUndefined();
    expect(activity.lastError("s3:other", () => true)).toBeUndefined();
  });

  it("counts the uploads of the last minute and their bytes, each version once, per destination", async () => {
    const { hub, clock, activity } = await started();
    clock.now += 10_000;
    hub.change("ev.s3_main.alpha.r1.event-aaaa1", entry("alpha", "event-aaaa1", { state: "uploaded", size: 1000 }));
    hub.change("ev.s3_main.alpha.r1.event-aaaa2", entry("alpha", "event-aaaa2", { state: "uploaded", size: 3000 }));
    // Written uploaded again (a redelivery after a lost ack): still one upload.
    hub.change("ev.s3_main.alpha.r1.event-aaaa2", entry("alpha", "event-aaaa2", { state: "uploaded", size: 3000 }));
    hub.change(
      "ev.sftp_b.alpha.r1.event-aaaa1",
      entry("alpha", "event-aaaa1", { destination: "sftp:b", state: "uploaded", size: 5 }),
    );
    // Over the 10 s the gateway has heard the ledger, not a whole minute.
    expect(activity.throughput("s3:main")).toEqual({
      windowSeconds: 10,
      uploads: 2,
      bytes: 4000,
      uploadsPerSecond: 0.2,
      bytesPerSecond: 400,
    });
    expect(activity.throughput("sftp:b")).toMatchObject({ uploads: 1, bytes: 5 });
    clock.now += 61_000;
    hub.change("ev.s3_main.alpha.r1.event-aaaa3", entry("alpha", "event-aaaa3", { state: "uploaded", size: 600 }));
    expect(activity.throughput("s3:main")).toEqual({
      windowSeconds: 60,
      uploads: 1,
      bytes: 600,
      uploadsPerSecond: 0.02,
      bytesPerSecond: 10,
    });
    expect(activity.throughput("nowhere")).toMatchObject({ uploads: 0, bytes: 0, bytesPerSecond: 0 });
  });
});
