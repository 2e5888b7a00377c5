/**
 * Leases that fence, on the real servers: an uploader frozen (SIGSTOP) mid-upload past its lease,
 * while another replica takes the key and lands a newer version, must not make its older version
 * visible nor record it `uploaded` once it runs again (SIGCONT), and one cut off from NATS the
 * same. Last write wins (DESIGN.md 3).
 *
 * The frozen holder's case held before the fence too: on SIGCONT its lease check (then on the
 * renewal ticks) ran before the part's answer was handled, and aborted the upload. It stays as
 * the guard of that path; the cut-off case is the one that failed (`uploaded` over `superseded`).
 */
import { join } from "node:path";
import { LEDGER_BUCKET, replicaKey } from "@artifact-bus/shared";
import { eventually, writeRandomFile } from "@artifact-bus/testkit";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CutoffProxy } from "./harness/cutoff-proxy.ts";
import { HoldingProxy } from "./harness/holding-proxy.ts";
import { S3Stack } from "./harness/s3-stack.ts";

/** The lease period: short, so a frozen holder loses its key within a few seconds. */
const ACK_WAIT_MS = 2000;
const PART_BYTES = 5 * 1024 * 1024;
let stack: S3Stack;
let proxy: HoldingProxy;
let n = 0;
const unique = (p: string) => `${p}-${process.pid}-${++n}`;

beforeAll(async () => {
  proxy = await HoldingProxy.start();
  stack = await S3Stack.start({
    // One upload at a time per replica: a frozen one takes no newer version out of the stream.
    destination: { ackWaitMs: ACK_WAIT_MS, concurrency: 1 },
    // Every blob of a part in parts (no whole PUT): the first case holds a multipart upload's part.
    s3Options: { endpoint: proxy.url, partSizeBytes: PART_BYTES, uploadCutoffBytes: 0 },
  });
  proxy.forwardTo(stack.s3.endpoint);
});
afterAll(async () => {
  stack?.s3.resume();
  await stack?.dispose();
  await proxy?.dispose();
});

describe("leases that fence", () => {
  it("a holder frozen before CompleteMultipartUpload, past its lease, never completes over the newer version", async () => {
    const t = await stack.bus.trainer({ rank: 0 });
    const run = unique("frozen-complete");
    const path = join(stack.bus.dir, run);
    const key = `demo/${run}/latest.pt`;
    const a = await stack.bus.startUploader();
    // One part exactly: the part's answer is the last thing the holder waits for before it completes.
    const partDone = proxy.holdNext((method, url) => method === "PUT" && url.includes("partNumber="));
    writeRandomFile(path, PART_BYTES);
    const v1 = await t.publisher.logFile({ project: "demo", run, name: "latest.pt", path });
    const release = await partDone; // the part is stored; the holder waits for its answer
    process.kill(a.pid, "SIGSTOP");
    const next = proxy.nextPassed((method, url) => url.includes("uploadId=") && method !== "PUT");
    try {
      release();
      const v2data = writeRandomFile(path, 1000);
      const v2 = await t.publisher.logFile({ project: "demo", run, name: "latest.pt", path });
      const b = await stack.bus.startUploader();
      await stack.bus.ledgerReaches(v2, "uploaded", 30_000);
      await stack.bus.ledgerReaches(v1, "superseded", 30_000);
      expect(await stack.getObject(key)).toEqual(v2data);
      process.kill(a.pid, "SIGCONT");
      // Whatever the holder does next with its multipart upload (complete it, abort it, or keep
      // it for the event's next attempt to resume) ...
      await Promise.race([
        next,
        a.waitForLog((l) => l.msg === "multipart upload kept for the next attempt to resume", 30_000),
      ]);
      // ... and whatever it then records: a clean stop waits for its in-flight delivery.
      await a.kill("SIGTERM");
      expect(await stack.getObject(key)).toEqual(v2data);
      expect(await stack.bus.ledger(v1)).toMatchObject({ state: "superseded" });
      expect(await stack.bus.ledger(v2)).toMatchObject({ state: "uploaded" });
      await b.kill("SIGTERM");
    } finally {
      if (a.proc.exitCode === null && a.proc.signalCode === null) process.kill(a.pid, "SIGCONT");
    }
    await t.close();
  });

  it("a holder cut off from NATS after its upload records no `uploaded` over the `superseded` a newer version left", async () => {
    const cutoff = await CutoffProxy.start(stack.bus.nats.url);
    const t = await stack.bus.trainer({ rank: 0 });
    const run = unique("cut-off");
    const path = join(stack.bus.dir, run);
    // Only this replica's NATS link goes through the proxy; pings too rare to notice the cut.
    const a = await stack.bus.startUploader({
      ARTIFACT_BUS_NATS_URL: cutoff.url,
      ARTIFACT_BUS_NATS_PING_INTERVAL_MS: "60000",
    });
    await stack.s3.pause(); // v1's PUT waits at the server while the holder's lease is fine
    try {
      writeRandomFile(path, 1000);
      const v1 = await t.publisher.logFile({ project: "demo", run, name: "latest.pt", path });
      await stack.bus.ledgerReaches(v1, "uploading");
      cutoff.cut();
      stack.s3.resume();
      // v1 landed: its holder now tries to record that, through the cut link.
      await a.waitForLog((l) => l.msg === "uploaded" && l.eventId === v1.id);
      const v2data = writeRandomFile(path, 2000);
      const v2 = await t.publisher.logFile({ project: "demo", run, name: "latest.pt", path });
      const b = await stack.bus.startUploader();
      await stack.bus.ledgerReaches(v2, "uploaded", 30_000);
      await stack.bus.ledgerReaches(v1, "superseded", 30_000);
      cutoff.heal();
      // A clean stop deletes the replica's entry last, through the same link: once it is gone,
      // everything the holder sent before (its outcome of v1 among it) has been applied.
      const { replicaId } = await a.waitForLog((l) => l.msg === "uploader started");
      await a.kill("SIGTERM");
      const kv = await new Kvm(stack.bus.nc).open(LEDGER_BUCKET);
      const entry = replicaKey(stack.bus.token, String(replicaId));
      await eventually(async () => (await kv.get(entry))?.operation !== "PUT" || undefined, 10_000, "A's entry gone");
      expect(await stack.bus.ledger(v1)).toMatchObject({ state: "superseded" });
      expect(await stack.bus.ledger(v2)).toMatchObject({ state: "uploaded" });
      expect(await stack.getObject(`demo/${run}/latest.pt`)).toEqual(v2data);
      await b.kill("SIGTERM");
    } finally {
      stack.s3.resume();
      cutoff.heal();
      await cutoff.dispose();
    }
    await t.close();
  });
});
