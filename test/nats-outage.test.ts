/**
 * NATS away in the middle of a long upload, for longer than a lease renewal may take but less than
 * the lease: the upload goes on (its lease is still valid) and lands in one attempt. NATS away when
 * a trainer logs its first artifact: logFile waits for it, it does not fail.
 */
import { join } from "node:path";
import { LEASE_KEY_PREFIX, LEDGER_BUCKET } from "@artifact-bus/shared";
import { sha256, writeLargeFile, writeRandomFile } from "@artifact-bus/testkit";
import { Kvm, KvWatchInclude } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Stack } from "./harness/s3-stack.ts";

const ACK_WAIT_MS = 15_000; // the lease lasts as long; renewals go out every third of it
let stack: S3Stack;

beforeAll(async () => {
  stack = await S3Stack.start({ destination: { ackWaitMs: ACK_WAIT_MS } });
});
afterAll(async () => {
  stack?.s3.resume();
  await stack?.dispose();
});

describe("NATS outage during an upload", () => {
  it("a lease renewal failing while NATS restarts does not abort an upload whose lease is still valid", async () => {
    const uploader = await stack.bus.startUploader();
    const t = await stack.bus.trainer();
    const path = join(stack.bus.dir, "big.pt");
    const hash = await writeLargeFile(path, 64 << 20);
    const logged = await t.publisher.logFile({ project: "outage", run: "r1", name: "big.pt", path });
    await uploader.waitForLog((l) => l.msg === "upload progress" && Number(l.bytesDone) > 0, 30_000);
    await stack.s3.pause(); // the upload holds still while NATS is away
    try {
      // Start the outage just after a renewal, so the next one falls inside it: it is sent at
      // ackWait/3 into the outage and times out (5 s) before NATS is back at 11 s, while the lease
      // renewed just before the outage is still valid (15 s).
      const kv = await new Kvm(stack.bus.nc).open(LEDGER_BUCKET);
      const watch = await kv.watch({ key: `${LEASE_KEY_PREFIX}.>`, include: KvWatchInclude.UpdatesOnly });
      for await (const e of watch) if (e.operation === "PUT") break;
      watch.stop();
      await stack.bus.nats.stop();
      await new Promise((r) => setTimeout(r, 11_000)); // the fault's length, not a wait for a result
      await stack.bus.nats.restart();
    } finally {
      stack.s3.resume();
    }
    await t.publisher.flush({ timeoutMs: 60_000 });
    expect(await stack.bus.ledger(logged)).toMatchObject({ state: "uploaded", attempts: 1 });
    const got = await stack.getObject("outage/r1/big.pt");
    expect(got && sha256(got)).toBe(hash);
    await t.close();
    await uploader.kill("SIGTERM");
  });

  it("a trainer's first logFile while NATS is away waits for it to come back: a pause, not an error", async () => {
    const uploader = await stack.bus.startUploader();
    const t = await stack.bus.trainer(); // connected, and it has not read the destinations yet
    const path = join(stack.bus.dir, "first.pt");
    const data = writeRandomFile(path, 4096);
    await stack.bus.nats.stop();
    const logging = t.publisher.logFile({ project: "outage", run: "r2", name: "first.pt", path });
    logging.catch(() => {}); // awaited below
    // Longer than a JetStream API request may take (5 s): the fault's length, not a wait for a result.
    await new Promise((r) => setTimeout(r, 8_000));
    await stack.bus.nats.restart();
    const handle = await logging;
    await handle.durable;
    await t.publisher.flush({ timeoutMs: 60_000 });
    expect(await stack.getObject("outage/r2/first.pt")).toEqual(data);
    await t.close();
    await uploader.kill("SIGTERM");
  });
});
