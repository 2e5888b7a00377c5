/**
 * The sweeper's guard against the real ledger: an old blob stays exactly while a dead letter (or
 * a replay in flight) at some destination may still need its bytes; docs/contract.md section 7.
 */

import { NatsServer } from "@artifact-bus/testkit";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../src/config/config.ts";
import type { NewLedgerEntry } from "../src/contract/ledger-entry.ts";
import { blobStillNeeded } from "../src/delivery/blob-release.ts";
import { Ledger } from "../src/ledger/ledger.ts";
import { connectNats } from "../src/nats/connect.ts";
import { DestinationDirectory } from "../src/nats/destinations.ts";
import { ensureTopology } from "../src/nats/topology.ts";
import { LEDGER_BUCKET } from "../src/nats/topology-names.ts";

const DAY = 24 * 3600_000;
let server: NatsServer;
let nc: NatsConnection;
let ledger: Ledger;
let directory: DestinationDirectory;
let n = 0;

beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connectNats({ servers: [server.url] }, { name: "sweep-guard-test" });
  const config = parseConfig({ destinations: [{ name: "s3:main" }, { name: "sftp:archive" }] });
  await ensureTopology(nc, { stream: config.stream, destinations: config.destinations });
  ledger = new Ledger(await new Kvm(nc).open(LEDGER_BUCKET));
  directory = new DestinationDirectory(nc, ledger.kv);
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

/** A blob whose event has these entries (per destination token); returns its location. */
async function blobWith(entries: Record<string, Partial<NewLedgerEntry>>) {
  const eventId = `guard-event-${++n}`;
  for (const [token, fields] of Object.entries(entries)) {
    const base = { destination: token, project: "p", run: "r", eventId, name: "m.pt", streamSeq: n, attempts: 1 };
    await ledger.record(token, { ...base, state: "pending", ...fields });
  }
  return { store: "fs" as const, ref: `p/r/${eventId}` };
}

describe("blobStillNeeded", () => {
  const guard = (atMs = 0) => blobStillNeeded(ledger, directory, 28 * DAY, () => Date.now() + atMs);

  it("keeps a dead event's blob while its letter lives, at any destination where it died", async () => {
    const dead = await blobWith({ s3_main: { state: "uploaded" }, sftp_archive: { state: "dead", dlqSeq: 4 } });
    expect(await guard()(dead)).toBe(true);
    expect(await guard(27 * DAY)(dead)).toBe(true);
    expect(await guard(28 * DAY + 1000)(dead)).toBe(false);
  });

  it("keeps a blob whose replay is in flight, and nothing else that is unfinished", async () => {
    expect(await guard()(await blobWith({ s3_main: { state: "pending", replayDlqSeq: 9 } }))).toBe(true);
    expect(await guard()(await blobWith({ s3_main: { state: "uploading", replayDlqSeq: 9 } }))).toBe(true);
    // An old blob's own event left the stream with age: an unfinished entry cannot use it.
    expect(await guard()(await blobWith({ s3_main: { state: "pending" } }))).toBe(false);
  });

  it("lets go of blobs no letter can use: done, invalid, unknown, or not a blob key", async () => {
    expect(
      await guard()(await blobWith({ s3_main: { state: "uploaded" }, sftp_archive: { state: "superseded" } })),
    ).toBe(false);
    expect(await guard()(await blobWith({ s3_main: { state: "dead", errorClass: "invalid", dlqSeq: 5 } }))).toBe(false);
    expect(await guard()(await blobWith({}))).toBe(false);
    expect(await guard()({ store: "fs", ref: "p/r/not.a.blob" })).toBe(false);
  });
});
