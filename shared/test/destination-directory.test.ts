/**
 * DestinationDirectory: which destinations take an event, from the consumers on the events
 * stream. Trainers check the names and the topology stamp cheaply between full listings: a
 * destination added or removed, or a filter changed by ensureTopology, shows at the next check,
 * not only at the next full listing.
 */

import { NatsServer } from "@artifact-bus/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../src/config/config.ts";
import { eventFilter, eventSubject } from "../src/contract/subjects.ts";
import { connectNats } from "../src/nats/connect.ts";
import { DestinationDirectory } from "../src/nats/destinations.ts";
import { ensureTopology } from "../src/nats/topology.ts";
import {
  consumerName,
  EVENTS_STREAM,
  filterRecordKey,
  LEDGER_BUCKET,
  replayConsumerName,
  TOPOLOGY_STAMP_KEY,
} from "../src/nats/topology-names.ts";

let server: NatsServer;
let nc: NatsConnection;
let ledger: KV;

beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connectNats({ servers: [server.url] }, { name: "directory-test" });
  await apply([]); // the ledger bucket
  ledger = await new Kvm(nc).open(LEDGER_BUCKET);
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

const apply = (destinations: { name: string; filter?: { project?: string } }[]) => {
  const config = parseConfig({ destinations });
  return ensureTopology(nc, { stream: config.stream, destinations: config.destinations });
};
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("DestinationDirectory", () => {
  it("sees a destination added or removed at the next check of names, long before the next full listing", async () => {
    await apply([{ name: "s3:main", filter: { project: "vision" } }]);
    const directory = new DestinationDirectory(nc, ledger, { ttlMs: 100, fullListMs: 600_000 });
    const subject = eventSubject({ project: "vision", run: "r1", level: "fit", name: "a.pt" });
    expect(await directory.matching(subject)).toEqual(["s3_main"]);

    await apply([
      { name: "s3:main", filter: { project: "vision" } },
      { name: "sftp:archive", filter: { project: "vision" } },
    ]);
    await pause(150);
    expect((await directory.matching(subject)).sort()).toEqual(["s3_main", "sftp_archive"]);
    expect(await directory.matching(eventSubject({ project: "other", run: "r1", level: "fit", name: "a" }))).toEqual(
      [],
    );

    const jsm = await jetstreamManager(nc);
    for (const name of [consumerName("sftp_archive"), replayConsumerName("sftp_archive")]) {
      await jsm.consumers.delete(EVENTS_STREAM, name);
    }
    await pause(150);
    expect(await directory.matching(subject)).toEqual(["s3_main"]);
  });

  it("with answerStaleForMs, answers a list past its ttl at once and checks it meanwhile: a logFile after a quiet spell waits for no round trip", async () => {
    await apply([{ name: "s3:stale", filter: { project: "stale" } }]);
    const directory = new DestinationDirectory(nc, ledger, {
      ttlMs: 100,
      fullListMs: 600_000,
      answerStaleForMs: 60_000,
    });
    const subject = eventSubject({ project: "stale", run: "r1", level: "fit", name: "a.pt" });
    expect(await directory.matching(subject)).toEqual(["s3_stale"]);

    await apply([
      { name: "s3:stale", filter: { project: "stale" } },
      { name: "sftp:stale", filter: { project: "stale" } },
    ]);
    await pause(150);
    // Past its ttl: the caller gets the list it had, and the check runs behind it; what the
    // publisher's flush waits for is the list once that check is done.
    expect(await directory.matching(subject)).toEqual(["s3_stale"]);
    const settled = (await directory.settledMatching(subject)).map((d) => d.token).sort();
    expect(settled).toEqual(["s3_stale", "sftp_stale"]);
    expect((await directory.matching(subject)).sort()).toEqual(["s3_stale", "sftp_stale"]);
  });

  it("sees a destination's filter changed by the topology at the next check, long before the next full listing", async () => {
    await apply([{ name: "s3:filtered", filter: { project: "alpha" } }]);
    const directory = new DestinationDirectory(nc, ledger, { ttlMs: 100, fullListMs: 600_000 });
    const alpha = eventSubject({ project: "alpha", run: "r1", level: "fit", name: "a.pt" });
    const beta = eventSubject({ project: "beta", run: "r1", level: "fit", name: "a.pt" });
    expect(await directory.matching(alpha)).toContain("s3_filtered");
    expect(await directory.matching(beta)).not.toContain("s3_filtered");

    await apply([{ name: "s3:filtered", filter: { project: "beta" } }]);
    await pause(150);
    expect(await directory.matching(alpha)).not.toContain("s3_filtered");
    expect(await directory.matching(beta)).toContain("s3_filtered");
  });

  it("applying the same topology again leaves the stamp alone: no publisher lists again for nothing", async () => {
    const destinations = [{ name: "s3:steady", filter: { project: "gamma" } }];
    await apply(destinations);
    const before = (await ledger.get(TOPOLOGY_STAMP_KEY))?.revision;
    await apply(destinations);
    expect((await ledger.get(TOPOLOGY_STAMP_KEY))?.revision).toBe(before);
    await apply([{ name: "s3:steady", filter: { project: "delta" } }]);
    expect((await ledger.get(TOPOLOGY_STAMP_KEY))?.revision).toBeGreaterThan(before ?? 0);
  });

  it("learns the filters from the records ensureTopology wrote, without listing the consumers; lists when a record is missing", async () => {
    await apply([{ name: "s3:recorded", filter: { project: "rec1" } }]);
    // Edited by hand, past ensureTopology: only a full listing would see this filter.
    const jsm = await jetstreamManager(nc);
    const info = await jsm.consumers.info(EVENTS_STREAM, consumerName("s3_recorded"));
    await jsm.consumers.update(EVENTS_STREAM, consumerName("s3_recorded"), {
      ...info.config,
      filter_subject: eventFilter("rec2"),
    });
    const rec1 = eventSubject({ project: "rec1", run: "r1", level: "fit", name: "a.pt" });
    const rec2 = eventSubject({ project: "rec2", run: "r1", level: "fit", name: "a.pt" });
    const fromRecords = new DestinationDirectory(nc, ledger, { fullListMs: 600_000 });
    expect(await fromRecords.matching(rec1)).toContain("s3_recorded");
    expect(await fromRecords.matching(rec2)).not.toContain("s3_recorded");

    await ledger.delete(filterRecordKey("s3_recorded"));
    const listed = new DestinationDirectory(nc, ledger, { fullListMs: 600_000 });
    expect(await listed.matching(rec1)).not.toContain("s3_recorded");
    expect(await listed.matching(rec2)).toContain("s3_recorded");
  });
});
